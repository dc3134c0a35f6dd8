package fileconn

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// The manifest is the destination's index of its published run files
// (run id, size, records, whether the run completed), kept beside them
// as a dot file that readers of the folder skip (the file source never
// reads dot files). It is what Feed answers from: the folder alone does
// not tell which run wrote a file, nor whether that run completed.
//
// It is replaced atomically (temporary file, fsync, rename, fsync of the
// folder) when a run starts (an entry marked writing: never listed, but
// it gives a recovered .part its run), when a run's file is published,
// when keep removes old files and when a dead run's .part is recovered.
// A kill can leave it one step behind the folder; loading it reconciles
// the two: a listed file that vanished is dropped, a run whose .part was
// published but not yet recorded is taken in as not complete.
type manifest struct {
	Version int            `json:"version"`
	Route   string         `json:"route"`
	Files   []manifestFile `json:"files"` // newest first
	// Parts are the runs writing their <name>.part now (or that died
	// doing so): never listed, but a recovered .part gets its run id.
	Parts []manifestFile `json:"parts,omitempty"`
	// Latest is the entry of the run whose file the latest name holds.
	Latest *manifestFile `json:"latest,omitempty"`
}

const manifestVersion = 1

type manifestFile struct {
	RunID     int64     `json:"run_id"`
	Name      string    `json:"name"`
	Size      int64     `json:"size"`
	Records   int       `json:"records"`
	Complete  bool      `json:"complete"`
	Recovered bool      `json:"recovered,omitempty"`
	Started   time.Time `json:"started,omitzero"`
	Published time.Time `json:"published,omitzero"`
}

// manifestFileName is the manifest's name for this destination: the
// name template with {route} and {ext} filled in, so two routes (or two
// formats) sharing a folder keep separate manifests.
func (d *Destination) manifestFileName() string {
	return "." + d.name.pattern(d.route, d.enc.ext()) + ".feed.json"
}

// loadManifest reads the manifest into d.man (the caller holds d.mmu)
// and reconciles it with the folder. It is read each time, not kept:
// after a config reload two destination values of one folder may exist
// (the old one finishing its run), and each must see what the other
// wrote. A missing manifest is an empty one; an unreadable one is logged
// and rebuilt from what runs publish next: it is an index, the files
// themselves are intact.
func (d *Destination) loadManifest() error { return d.readManifest(true) }

// readManifest reads the manifest into d.man and reconciles it with the
// folder; save writes the reconciled one back. Readers (Feed) do not
// save: only a run writes the manifest, so two values of one folder never
// undo each other's update.
func (d *Destination) readManifest(save bool) error {
	m := &manifest{Version: manifestVersion, Route: d.route}
	b, err := os.ReadFile(d.manPath)
	dropped := false
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return fmt.Errorf("file destination: read the feed manifest %s: %w", d.manPath, err)
	default:
		if err := json.Unmarshal(b, m); err != nil || m.Version != manifestVersion {
			d.logger.Warn("file destination: the feed manifest is unreadable; it lists the files published from now on", "file", d.manPath, "error", err)
			m, dropped = &manifest{Version: manifestVersion, Route: d.route}, true
		}
	}
	// Only plain names of this folder: a manifest edited by hand must
	// not make Feed (and so a download) reach outside it.
	bad := func(f manifestFile) bool { return plainName(f.Name) != nil || strings.HasPrefix(f.Name, ".") }
	n := len(m.Files) + len(m.Parts)
	m.Files, m.Parts = slices.DeleteFunc(m.Files, bad), slices.DeleteFunc(m.Parts, bad)
	dropped = dropped || n != len(m.Files)+len(m.Parts)
	if m.Latest != nil && bad(*m.Latest) {
		m.Latest, dropped = nil, true
	}
	d.man = m
	if d.reconcile() || dropped {
		if save {
			return d.saveManifest()
		}
	}
	return nil
}

// reconcile brings the manifest in line with the folder after a kill;
// it reports whether it changed anything.
func (d *Destination) reconcile() bool {
	m := d.man
	changed := false
	kept := m.Files[:0]
	for _, f := range m.Files {
		if exists(filepath.Join(d.dir, f.Name)) {
			kept = append(kept, f)
		} else {
			changed = true
		}
	}
	m.Files = kept
	parts := m.Parts[:0]
	for _, p := range m.Parts {
		path := filepath.Join(d.dir, p.Name)
		switch {
		case exists(path + partSuffix):
			parts = append(parts, p) // the next StartRun recovers it
			continue
		case exists(path) && m.entry(p.Name) == nil:
			// Published, then killed before the manifest said so: the
			// run's outcome is unknown. (A name every run replaces that
			// is listed already may be the previous run's file: dropped.)
			p.Recovered, p.Complete = true, false
			p.Size, p.Records, p.Published = d.describe(path)
			m.add(p)
		}
		changed = true
	}
	m.Parts = parts
	if d.cfg.Latest == "" {
		changed = changed || m.Latest != nil
		m.Latest = nil
		return changed
	}
	info, err := os.Stat(filepath.Join(d.dir, d.cfg.Latest))
	if err != nil {
		changed = changed || m.Latest != nil
		m.Latest = nil
		return changed
	}
	// latest is a hard link to its run's file where the file system has
	// them: find which run it is now (a kill may have come between
	// replacing latest and recording it).
	same := func(name string) bool {
		fi, err := os.Stat(filepath.Join(d.dir, name))
		return err == nil && os.SameFile(info, fi)
	}
	if m.Latest != nil && same(m.Latest.Name) {
		return changed
	}
	for _, f := range m.Files {
		if same(f.Name) {
			if m.Latest == nil || m.Latest.RunID != f.RunID || m.Latest.Name != f.Name {
				f := f
				m.Latest, changed = &f, true
			}
			return changed
		}
	}
	if m.Latest == nil {
		// A latest file from before the manifest existed: served as
		// latest (run unknown) until the next completed run replaces it.
		l := manifestFile{Name: d.cfg.Latest, Complete: true}
		l.Size, l.Records, l.Published = d.describe(filepath.Join(d.dir, d.cfg.Latest))
		m.Latest, changed = &l, true
	}
	return changed
}

// describe reads a published file's size, records and time.
func (d *Destination) describe(path string) (size int64, records int, published time.Time) {
	info, err := os.Stat(path)
	if err != nil {
		return 0, 0, time.Time{}
	}
	n, err := d.countRecords(path)
	if err != nil {
		d.logger.Warn("file destination: cannot count the records of a recovered file", "file", path, "error", err)
	}
	return info.Size(), n, info.ModTime()
}

// countRecords counts the records of a closed run file: one per line
// (JSON: between the array's opening and closing lines), CSV records
// after the header (a quoted value may hold line breaks).
func (d *Destination) countRecords(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	if d.cfg.Format == FormatCSV {
		_, lines, err := csvLinesEnd(f)
		return max(0, lines-1), err
	}
	n, buf := 0, make([]byte, 64<<10)
	for {
		k, err := f.Read(buf)
		n += bytes.Count(buf[:k], []byte{'\n'})
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, err
		}
	}
	if d.cfg.Format == FormatJSON {
		n -= 2 // "[\n" and "]\n"
	}
	return max(0, n), nil
}

// saveManifest replaces the manifest atomically (the caller holds d.mmu).
func (d *Destination) saveManifest() error {
	b, err := json.MarshalIndent(d.man, "", "  ")
	if err != nil {
		return fmt.Errorf("file destination: feed manifest: %w", err)
	}
	// A temporary name of its own: another destination value of this
	// folder (the old config's during a reload, a ferry run beside ferry
	// serve) may be saving at the same time.
	f, err := os.CreateTemp(d.dir, filepath.Base(d.manPath)+".*.tmp")
	if err != nil {
		return fmt.Errorf("file destination: write the feed manifest %s: %w", d.manPath, err)
	}
	tmp := f.Name()
	fail := func(err error) error {
		os.Remove(tmp)
		return fmt.Errorf("file destination: write the feed manifest %s: %w", d.manPath, err)
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return fail(err)
	}
	_, err = f.Write(append(b, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp, d.manPath); err != nil {
		return fail(err)
	}
	return syncDir(d.dir)
}

// updateManifest loads the manifest, applies change and saves it.
func (d *Destination) updateManifest(change func(m *manifest)) error {
	d.mmu.Lock()
	defer d.mmu.Unlock()
	if err := d.loadManifest(); err != nil {
		return err
	}
	change(d.man)
	return d.saveManifest()
}

// part removes and returns the entry of the run writing name+".part"
// (ok false when there is none).
func (m *manifest) part(name string) (manifestFile, bool) {
	i := slices.IndexFunc(m.Parts, func(p manifestFile) bool { return p.Name == name })
	if i < 0 {
		return manifestFile{}, false
	}
	p := m.Parts[i]
	m.Parts = slices.Delete(m.Parts, i, i+1)
	return p, true
}

// entry returns the manifest's entry of that name, or nil.
func (m *manifest) entry(name string) *manifestFile {
	for i := range m.Files {
		if m.Files[i].Name == name {
			return &m.Files[i]
		}
	}
	return nil
}

// remove drops the entries of those names.
func (m *manifest) remove(names ...string) {
	m.Files = slices.DeleteFunc(m.Files, func(f manifestFile) bool { return slices.Contains(names, f.Name) })
}

// add puts f first (newest), replacing any entry of its name (a name
// without {run}, {run_id} or {date} is replaced by each run).
func (m *manifest) add(f manifestFile) {
	m.remove(f.Name)
	m.Files = slices.Insert(m.Files, 0, f)
}
