package server

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/ferry-dev/ferry/internal/config"
)

// verifySignature checks an HMAC-SHA256 signature of body (the raw
// bytes, as received) sent in a header, in constant time. The error
// says what is wrong without revealing the expected value.
func verifySignature(sig *config.WebhookSignature, value string, body []byte) error {
	value = strings.TrimSpace(value)
	if value == "" {
		return fmt.Errorf("the signature header %s is missing", sig.Header)
	}
	if sig.Prefix != "" {
		rest, ok := strings.CutPrefix(value, sig.Prefix)
		if !ok {
			return fmt.Errorf("the signature header %s must start with %q", sig.Header, sig.Prefix)
		}
		value = rest
	}
	got, err := decodeSignature(sig.Encoding, value)
	if err != nil {
		return fmt.Errorf("the signature header %s: %w", sig.Header, err)
	}
	mac := hmac.New(sha256.New, []byte(sig.Secret))
	mac.Write(body)
	if !hmac.Equal(mac.Sum(nil), got) {
		return fmt.Errorf("the signature in %s does not match the body", sig.Header)
	}
	return nil
}

func decodeSignature(encoding, value string) ([]byte, error) {
	switch encoding {
	case "", "hex":
		b, err := hex.DecodeString(value)
		if err != nil {
			return nil, errors.New("not a hex-encoded signature")
		}
		return b, nil
	case "base64":
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
			if b, err := enc.DecodeString(value); err == nil {
				return b, nil
			}
		}
		return nil, errors.New("not a base64-encoded signature")
	default:
		return nil, fmt.Errorf("unknown signature encoding %q", encoding)
	}
}

// Sign returns the signature header value a caller sends for body
// (tests and docs use it to show shops how to sign).
func Sign(sig *config.WebhookSignature, body []byte) string {
	mac := hmac.New(sha256.New, []byte(sig.Secret))
	mac.Write(body)
	sum := mac.Sum(nil)
	if sig.Encoding == "base64" {
		return sig.Prefix + base64.StdEncoding.EncodeToString(sum)
	}
	return sig.Prefix + hex.EncodeToString(sum)
}
