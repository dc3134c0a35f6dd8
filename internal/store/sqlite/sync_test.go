package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"syscall"
	"testing"

	"github.com/ferry-dev/ferry/internal/store"
)

// A durable commit syncs the log through one kept descriptor, and the
// log's folder the first time that file is synced. After a failed sync every durable commit fails
// before it writes anything (the kernel may report the next sync of the
// same pages clean); commits that do not ask for durability go on.
func TestDurableCommitsStopAfterAFailedSync(t *testing.T) {
	s, _ := openScratch(t)
	var fileSyncs, folderSyncs int
	failing := false
	var files []*os.File
	s.syncFile = func(f *os.File) error {
		fileSyncs++
		files = append(files, f)
		if failing {
			return &os.PathError{Op: "fdatasync", Path: f.Name(), Err: syscall.EIO}
		}
		return dataSync(f)
	}
	s.syncFolder = func(dir string) error {
		folderSyncs++
		return syncDir(dir)
	}
	durable := store.WithSync(context.Background())
	insert := func(ctx context.Context) error {
		return s.writeTx(ctx, "insert", func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO scratch (b) VALUES (x'00')`)
			return err
		})
	}
	rows := func() int {
		var n int
		if err := s.write.QueryRow(`SELECT count(*) FROM scratch`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	for range 3 {
		if err := insert(durable); err != nil {
			t.Fatal(err)
		}
	}
	if fileSyncs != 3 || folderSyncs != 1 {
		t.Fatalf("3 durable commits: %d log syncs and %d folder syncs, want 3 and 1", fileSyncs, folderSyncs)
	}
	if files[0] != files[1] || files[1] != files[2] {
		t.Fatal("the log was synced through a new descriptor: a write-back error another descriptor took would not be seen")
	}

	failing = true
	err := insert(durable)
	if !errors.Is(err, store.ErrSyncFailed) || !errors.Is(err, syscall.EIO) {
		t.Fatalf("commit whose sync failed: %v, want store.ErrSyncFailed wrapping EIO", err)
	}
	failing = false
	before := rows()
	if err := insert(durable); !errors.Is(err, store.ErrSyncFailed) {
		t.Fatalf("durable commit after a failed sync: %v, want store.ErrSyncFailed", err)
	}
	if rows() != before || fileSyncs != 4 {
		t.Fatalf("the refused commit wrote %d rows and synced %d more times", rows()-before, fileSyncs-4)
	}
	if err := s.Fault(); !errors.Is(err, store.ErrSyncFailed) {
		t.Fatalf("Fault after a failed sync: %v", err)
	}
	if err := insert(context.Background()); err != nil {
		t.Fatalf("a commit that asks for no sync: %v", err)
	}
}
