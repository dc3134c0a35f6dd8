package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	neturl "net/url"
	"strconv"
	"time"
)

// poster posts one webhook body on its connection and returns the status.
type poster interface {
	post(body []byte) (int, error)
	close()
}

// newPoster returns a maker of one poster per load connection.
func newPoster(kind, url string, conns int, token string) (func() poster, error) {
	switch kind {
	case "nethttp":
		client := &http.Client{Timeout: postTimeout, Transport: &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns}}
		return func() poster { return &netPoster{client: client, url: url, token: token} }, nil
	case "raw":
		u, err := neturl.Parse(url)
		if err != nil {
			return nil, err
		}
		head := "POST " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host +
			"\r\nAuthorization: Bearer " + token + "\r\nContent-Type: application/json\r\nContent-Length: "
		return func() poster { return &rawPoster{addr: u.Host, head: head} }, nil
	}
	return nil, fmt.Errorf("-client %q: want nethttp or raw", kind)
}

// netPoster is Go's http.Client, as most programs would post.
type netPoster struct {
	client *http.Client
	url    string
	token  string
}

func (p *netPoster) post(body []byte) (int, error) {
	req, err := http.NewRequest(http.MethodPost, p.url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+p.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := p.client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

func (p *netPoster) close() {}

// rawPoster writes each request by hand on one keep-alive connection and
// reads the answer's status line, headers and Content-Length body: the
// load process then takes a small share of the 2 cores ferry runs on
// (a shop's webhooks come from another machine). A connection the server
// closes, or an answer it cannot read, is dialled again.
type rawPoster struct {
	addr string
	head string // request line and headers up to "Content-Length: "
	conn net.Conn
	r    *bufio.Reader
	buf  []byte
}

func (p *rawPoster) post(body []byte) (int, error) {
	if p.conn == nil {
		c, err := net.DialTimeout("tcp", p.addr, postTimeout)
		if err != nil {
			return 0, err
		}
		p.conn, p.r = c, bufio.NewReader(c)
	}
	if err := p.conn.SetDeadline(time.Now().Add(postTimeout)); err != nil {
		p.close()
		return 0, err
	}
	p.buf = append(p.buf[:0], p.head...)
	p.buf = strconv.AppendInt(p.buf, int64(len(body)), 10)
	p.buf = append(p.buf, "\r\n\r\n"...)
	p.buf = append(p.buf, body...)
	if _, err := p.conn.Write(p.buf); err != nil {
		p.close()
		return 0, err
	}
	code, err := p.readResponse()
	if err != nil {
		p.close()
	}
	return code, err
}

// readResponse reads one answer: "HTTP/1.1 NNN ...", headers, and a body
// of Content-Length bytes (ferry's answers are small and carry it).
func (p *rawPoster) readResponse() (int, error) {
	line, err := p.r.ReadSlice('\n')
	if err != nil {
		return 0, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.1 ")) {
		return 0, fmt.Errorf("bad status line %q", line)
	}
	code, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, fmt.Errorf("bad status line %q", line)
	}
	length, closing := -1, false
	for {
		line, err := p.r.ReadSlice('\n')
		if err != nil {
			return 0, err
		}
		h := bytes.TrimRight(line, "\r\n")
		if len(h) == 0 {
			break
		}
		name, value, ok := bytes.Cut(h, []byte(":"))
		if !ok {
			continue
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.Atoi(string(value)); err != nil {
				return 0, fmt.Errorf("bad Content-Length %q", value)
			}
		case bytes.EqualFold(name, []byte("Connection")) && bytes.EqualFold(value, []byte("close")):
			closing = true
		}
	}
	if length < 0 {
		return 0, fmt.Errorf("answer %d without Content-Length", code)
	}
	if _, err := p.r.Discard(length); err != nil {
		return 0, err
	}
	if closing {
		p.close()
	}
	return code, nil
}

func (p *rawPoster) close() {
	if p.conn != nil {
		_ = p.conn.Close()
		p.conn, p.r = nil, nil
	}
}
