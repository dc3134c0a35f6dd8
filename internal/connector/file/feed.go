package fileconn

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"

	"github.com/ferry-dev/ferry/internal/connector"
)

// Feed lists the published run files, newest first, from the manifest
// (read and reconciled with the folder: a file removed by hand is left
// out). Latest is the
// `latest` file when the destination has one, else the newest file of a
// completed run. A .part is never listed.
func (d *Destination) Feed(ctx context.Context) (connector.Feed, error) {
	if err := ctx.Err(); err != nil {
		return connector.Feed{}, err
	}
	d.mmu.Lock()
	defer d.mmu.Unlock()
	if err := d.readManifest(false); err != nil {
		return connector.Feed{}, err
	}
	feed := connector.Feed{Route: d.route, Format: d.cfg.Format, PublicToken: d.cfg.PublicToken}
	for _, f := range d.man.Files { // loading dropped those that vanished
		feed.Files = append(feed.Files, f.feedFile(filepath.Join(d.dir, f.Name)))
	}
	if d.cfg.Latest == "" {
		for _, f := range feed.Files {
			if f.Complete {
				feed.Latest = &f
				break
			}
		}
		return feed, nil
	}
	if l := d.man.Latest; l != nil {
		path := filepath.Join(d.dir, d.cfg.Latest)
		if info, err := os.Stat(path); err == nil {
			f := l.feedFile(path)
			f.Name, f.Size, f.Complete = d.cfg.Latest, info.Size(), true
			feed.Latest = &f
		}
	}
	return feed, nil
}

func (f manifestFile) feedFile(path string) connector.FeedFile {
	return connector.FeedFile{
		RunID: f.RunID, Name: f.Name, Path: path, Size: f.Size, Records: f.Records,
		Published: f.Published, Complete: f.Complete,
	}
}

// Fingerprint is what the engine hashes to tell whether what is written
// for a record changed: the config without public_token (a token is not
// content, and rotating it must not make every record count as changed).
// Without a token it is the same JSON as before tokens existed.
func (c *DestinationConfig) Fingerprint() []byte {
	cp := *c
	cp.PublicToken = ""
	b, err := json.Marshal(struct {
		Kind   string
		Config any
	}{"file", &cp})
	if err != nil {
		return nil
	}
	return b
}
