// Command c1zcheck reads a .c1z file the way baton's own reader does underneath — the same zstd
// library and decoder limits (klauspost/compress), the same SQLite driver (glebarez/go-sqlite,
// which turns datetime columns into time.Time), the same SQL over the v1 tables — and decodes
// the protobuf rows with google.golang.org/protobuf's wire reader, independently of the Rust
// code that wrote them. It prints what it read as JSON and exits non-zero on any inconsistency
// (a derived column that disagrees with its blob, a timestamp baton could not scan, ...).
//
// It exists because the Go module proxy refuses github.com/conductorone/baton-sdk here; it is a
// test tool, not product code.
package main

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	_ "github.com/glebarez/go-sqlite"
	"github.com/klauspost/compress/zstd"
	"google.golang.org/protobuf/encoding/protowire"
)

type syncRun struct {
	ID        string    `json:"id"`
	StartedAt time.Time `json:"startedAt"`
	EndedAt   time.Time `json:"endedAt"`
	Type      string    `json:"type"`
}

type resource struct {
	Type        string `json:"type"`
	ID          string `json:"id"`
	DisplayName string `json:"displayName"`
}

type entitlement struct {
	ID       string `json:"id"`
	Resource string `json:"resource"`
	Slug     string `json:"slug"`
}

type grant struct {
	ID          string `json:"id"`
	Entitlement string `json:"entitlement"`
	Principal   string `json:"principal"`
	Expandable  bool   `json:"expandable"`
}

type report struct {
	SyncRun       syncRun       `json:"syncRun"`
	ResourceTypes []string      `json:"resourceTypes"`
	Resources     []resource    `json:"resources"`
	Entitlements  []entitlement `json:"entitlements"`
	Grants        []grant       `json:"grants"`
}

func main() {
	if len(os.Args) != 2 {
		fail("usage: c1zcheck FILE.c1z")
	}
	dir, err := os.MkdirTemp("", "c1zcheck")
	check(err)
	defer os.RemoveAll(dir)
	dbPath := filepath.Join(dir, "db")
	check(decompress(os.Args[1], dbPath))
	db, err := sql.Open("sqlite", dbPath)
	check(err)
	defer db.Close()
	out, err := read(db)
	check(err)
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	check(enc.Encode(out))
}

// decompress checks the v1 magic and streams the zstd payload with baton's decoder options.
func decompress(path, dbPath string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	magic := make([]byte, 5)
	if _, err := io.ReadFull(f, magic); err != nil || string(magic) != "C1ZF\x00" {
		return fmt.Errorf("not a v1 c1z: magic %q", magic)
	}
	dec, err := zstd.NewReader(f, zstd.WithDecoderLowmem(true), zstd.WithDecoderMaxMemory(128<<20), zstd.WithDecoderConcurrency(1))
	if err != nil {
		return err
	}
	defer dec.Close()
	out, err := os.Create(dbPath)
	if err != nil {
		return err
	}
	defer out.Close()
	_, err = io.Copy(out, dec)
	return err
}

func read(db *sql.DB) (*report, error) {
	var r report
	// baton's resolveSyncID: the latest finished full sync.
	row := db.QueryRow(`select sync_id, started_at, ended_at, sync_type from v1_sync_runs
		where ended_at is not null and sync_type = 'full' order by ended_at desc limit 1`)
	if err := row.Scan(&r.SyncRun.ID, &r.SyncRun.StartedAt, &r.SyncRun.EndedAt, &r.SyncRun.Type); err != nil {
		return nil, fmt.Errorf("sync run: %w", err)
	}
	sync := r.SyncRun.ID
	if err := eachRow(db, `select external_id, data from v1_resource_types where sync_id = ? order by id`, sync, func(scan func(...any) error) error {
		var ext string
		var data []byte
		if err := scan(&ext, &data); err != nil {
			return err
		}
		id := str(fields(data), 1)
		if id != ext {
			return fmt.Errorf("resource type %q stored under external_id %q", id, ext)
		}
		r.ResourceTypes = append(r.ResourceTypes, id)
		return nil
	}); err != nil {
		return nil, err
	}
	if err := eachRow(db, `select resource_type_id, external_id, data, discovered_at from v1_resources where sync_id = ? order by id`, sync, func(scan func(...any) error) error {
		var typ, ext string
		var data []byte
		var discovered time.Time
		if err := scan(&typ, &ext, &data, &discovered); err != nil {
			return err
		}
		msg := fields(data)
		id := fields(msg[1])
		res := resource{Type: str(id, 1), ID: str(id, 2), DisplayName: str(msg, 3)}
		if res.Type != typ || res.Type+":"+res.ID != ext {
			return fmt.Errorf("resource %s:%s stored as %q / %q", res.Type, res.ID, typ, ext)
		}
		r.Resources = append(r.Resources, res)
		return nil
	}); err != nil {
		return nil, err
	}
	if err := eachRow(db, `select external_id, resource_type_id, resource_id, data from v1_entitlements where sync_id = ? order by id`, sync, func(scan func(...any) error) error {
		var ext, typ, rid string
		var data []byte
		if err := scan(&ext, &typ, &rid, &data); err != nil {
			return err
		}
		msg := fields(data)
		resID := fields(fields(msg[1])[1])
		e := entitlement{ID: str(msg, 2), Resource: str(resID, 1) + ":" + str(resID, 2), Slug: str(msg, 8)}
		if e.ID != ext || str(resID, 1) != typ || str(resID, 2) != rid {
			return fmt.Errorf("entitlement %s columns disagree with its blob", e.ID)
		}
		r.Entitlements = append(r.Entitlements, e)
		return nil
	}); err != nil {
		return nil, err
	}
	err := eachRow(db, `select external_id, entitlement_id, principal_resource_type_id, principal_resource_id, expansion, needs_expansion, data
		from v1_grants where sync_id = ? order by id`, sync, func(scan func(...any) error) error {
		var ext, ent, ptype, pid string
		var expansion, data []byte
		var needs int
		if err := scan(&ext, &ent, &ptype, &pid, &expansion, &needs, &data); err != nil {
			return err
		}
		msg := fields(data)
		entMsg := fields(msg[1])
		principalID := fields(fields(msg[2])[1])
		g := grant{ID: str(msg, 3), Entitlement: str(entMsg, 2), Principal: str(principalID, 1) + ":" + str(principalID, 2), Expandable: needs == 1}
		if g.ID != ext || g.Entitlement != ent || g.Principal != ptype+":"+pid {
			return fmt.Errorf("grant %s columns disagree with its blob", g.ID)
		}
		if (len(expansion) > 0) != g.Expandable {
			return fmt.Errorf("grant %s: expansion column and needs_expansion disagree", g.ID)
		}
		r.Grants = append(r.Grants, g)
		return nil
	})
	return &r, err
}

func eachRow(db *sql.DB, query, sync string, f func(scan func(...any) error) error) error {
	rows, err := db.Query(query, sync)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := f(rows.Scan); err != nil {
			return err
		}
	}
	return rows.Err()
}

// fields decodes one protobuf message into its length-delimited fields (the first value of each
// field number); scalar fields are skipped. Malformed input aborts.
func fields(b []byte) map[protowire.Number][]byte {
	out := map[protowire.Number][]byte{}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			fail("malformed protobuf tag")
		}
		b = b[n:]
		m := protowire.ConsumeFieldValue(num, typ, b)
		if m < 0 {
			fail("malformed protobuf field")
		}
		if typ == protowire.BytesType {
			v, _ := protowire.ConsumeBytes(b)
			if _, seen := out[num]; !seen {
				out[num] = v
			}
		}
		b = b[m:]
	}
	return out
}

func str(m map[protowire.Number][]byte, n protowire.Number) string {
	return string(m[n])
}

func check(err error) {
	if err != nil {
		fail(err.Error())
	}
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "c1zcheck:", msg)
	os.Exit(1)
}
