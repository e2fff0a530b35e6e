// Command baton-reader opens a .c1z file with the official baton-sdk reader (pkg/dotc1z, the
// code underneath the baton CLI) and prints what it read as one JSON object.
//
// It is written against baton-sdk v0.7.27, the version the standalone baton CLI vendors. It is a
// test tool, not product code; it cannot be built where the Go module proxy refuses baton-sdk.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	v2 "github.com/conductorone/baton-sdk/pb/c1/connector/v2"
	"github.com/conductorone/baton-sdk/pkg/annotations"
	"github.com/conductorone/baton-sdk/pkg/connectorstore"
	"github.com/conductorone/baton-sdk/pkg/dotc1z"
	"github.com/conductorone/baton-sdk/pkg/logging"
)

type syncRunOut struct {
	ID        string     `json:"id"`
	Type      string     `json:"type"`
	StartedAt *time.Time `json:"startedAt"`
	EndedAt   *time.Time `json:"endedAt"`
}

type resourceOut struct {
	Type        string `json:"type"`
	ID          string `json:"id"`
	DisplayName string `json:"displayName"`
}

type entitlementOut struct {
	ID       string `json:"id"`
	Resource string `json:"resource"`
	Slug     string `json:"slug"`
}

type grantOut struct {
	ID          string `json:"id"`
	Entitlement string `json:"entitlement"`
	Principal   string `json:"principal"`
	Expandable  bool   `json:"expandable"`
}

type report struct {
	SyncRuns      []syncRunOut     `json:"syncRuns"`
	ResourceTypes []string         `json:"resourceTypes"`
	Resources     []resourceOut    `json:"resources"`
	Entitlements  []entitlementOut `json:"entitlements"`
	Grants        []grantOut       `json:"grants"`
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: baton-reader FILE.c1z")
		os.Exit(2)
	}
	if err := run(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "baton-reader:", err)
		os.Exit(1)
	}
}

func run(path string) (err error) {
	// Like the baton CLI: SDK logging at error level only; zap's production config writes to
	// stderr, so stdout carries nothing but the JSON.
	ctx, err := logging.Init(context.Background(),
		logging.WithLogFormat(logging.LogFormatConsole),
		logging.WithLogLevel("error"),
		logging.WithOutputPaths([]string{"stderr"}))
	if err != nil {
		return fmt.Errorf("init logging: %w", err)
	}

	// The SDK silently starts an empty database when the file is missing or empty (it is also
	// the code path that creates new c1z files), so refuse those here.
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() || st.Size() == 0 {
		return fmt.Errorf("%s: not a non-empty regular file", path)
	}

	tmpDir, err := os.MkdirTemp("", "baton-reader")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmpDir)

	// The baton CLI goes manager.New(ctx, path) -> LoadC1Z(ctx), which copies the file to a temp
	// file and calls dotc1z.NewC1ZFile on the copy. We call NewC1ZFile directly, in read-only
	// mode: it still decompresses into its own directory under tmpDir, and Close only writes the
	// c1z back if something modified the database -- which read-only mode turns into an error.
	store, err := dotc1z.NewC1ZFile(ctx, path,
		dotc1z.WithTmpDir(tmpDir),
		dotc1z.WithReadOnly(true))
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	defer func() {
		if cerr := store.Close(ctx); cerr != nil {
			err = errors.Join(err, fmt.Errorf("close: %w", cerr))
		}
	}()

	out, err := read(ctx, store)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func read(ctx context.Context, store *dotc1z.C1File) (*report, error) {
	r := &report{
		SyncRuns:      []syncRunOut{},
		ResourceTypes: []string{},
		Resources:     []resourceOut{},
		Entitlements:  []entitlementOut{},
		Grants:        []grantOut{},
	}

	// Sync runs: every row of the sync_runs table, in insertion order.
	for token := ""; ; {
		runs, next, err := store.ListSyncRuns(ctx, token, 100)
		if err != nil {
			return nil, fmt.Errorf("list sync runs: %w", err)
		}
		for _, sr := range runs {
			r.SyncRuns = append(r.SyncRuns, syncRunOut{
				ID:        sr.ID,
				Type:      string(sr.Type),
				StartedAt: sr.StartedAt,
				EndedAt:   sr.EndedAt,
			})
		}
		if next == "" {
			break
		}
		token = next
	}

	// The List* calls below carry no sync id, so the SDK reads the sync it would show by
	// default: the latest finished full sync, else the latest unfinished one.
	for token := ""; ; {
		resp, err := store.ListResourceTypes(ctx, v2.ResourceTypesServiceListResourceTypesRequest_builder{
			PageToken: token,
		}.Build())
		if err != nil {
			return nil, err
		}
		for _, rt := range resp.GetList() {
			r.ResourceTypes = append(r.ResourceTypes, rt.GetId())
		}
		if resp.GetNextPageToken() == "" {
			break
		}
		token = resp.GetNextPageToken()
	}

	for token := ""; ; {
		resp, err := store.ListResources(ctx, v2.ResourcesServiceListResourcesRequest_builder{
			PageToken: token,
		}.Build())
		if err != nil {
			return nil, err
		}
		for _, res := range resp.GetList() {
			r.Resources = append(r.Resources, resourceOut{
				Type:        res.GetId().GetResourceType(),
				ID:          res.GetId().GetResource(),
				DisplayName: res.GetDisplayName(),
			})
		}
		if resp.GetNextPageToken() == "" {
			break
		}
		token = resp.GetNextPageToken()
	}

	for token := ""; ; {
		resp, err := store.ListEntitlements(ctx, v2.EntitlementsServiceListEntitlementsRequest_builder{
			PageToken: token,
		}.Build())
		if err != nil {
			return nil, err
		}
		for _, e := range resp.GetList() {
			r.Entitlements = append(r.Entitlements, entitlementOut{
				ID:       e.GetId(),
				Resource: resourceKey(e.GetResource().GetId()),
				Slug:     e.GetSlug(),
			})
		}
		if resp.GetNextPageToken() == "" {
			break
		}
		token = resp.GetNextPageToken()
	}

	expandable, err := expandableGrantIDs(ctx, store)
	if err != nil {
		return nil, err
	}
	for token := ""; ; {
		resp, err := store.ListGrants(ctx, v2.GrantsServiceListGrantsRequest_builder{
			PageToken: token,
		}.Build())
		if err != nil {
			return nil, err
		}
		for _, g := range resp.GetList() {
			annos := annotations.Annotations(g.GetAnnotations())
			r.Grants = append(r.Grants, grantOut{
				ID:          g.GetId(),
				Entitlement: g.GetEntitlement().GetId(),
				Principal:   resourceKey(g.GetPrincipal().GetId()),
				Expandable:  expandable[g.GetId()] || annos.Contains(&v2.GrantExpandable{}),
			})
		}
		if resp.GetNextPageToken() == "" {
			break
		}
		token = resp.GetNextPageToken()
	}

	return r, nil
}

// expandableGrantIDs returns the ids of the grants whose GrantExpandable annotation the SDK keeps
// in the grants table's `expansion` column. In v0.7.27 the SDK strips that annotation from the
// stored grant (on write, and on open for files whose sync run has supports_diff = 0), and
// ListGrants reads only the stored grant, so it never shows the annotation; the column is read
// back through ListGrantsInternal. The payload modes of ListGrantsInternal resolve the sync the
// same way ListGrants does for a request without a sync id.
//
// baton-sdk v0.25 removed ListGrantsInternal; there, C1File.ListGrantsWithExpansion (same
// request/response as ListGrants) re-attaches the annotation instead -- see README.md.
func expandableGrantIDs(ctx context.Context, store *dotc1z.C1File) (map[string]bool, error) {
	ids := map[string]bool{}
	for token := ""; ; {
		resp, err := store.ListGrantsInternal(ctx, connectorstore.GrantListOptions{
			Mode:           connectorstore.GrantListModePayloadWithExpansion,
			ExpandableOnly: true,
			PageToken:      token,
		})
		if err != nil {
			return nil, fmt.Errorf("list expandable grants: %w", err)
		}
		for _, row := range resp.Rows {
			if row.Grant != nil && row.Expansion != nil {
				ids[row.Grant.GetId()] = true
			}
		}
		if resp.NextPageToken == "" {
			break
		}
		token = resp.NextPageToken
	}
	return ids, nil
}

// resourceKey renders a resource id as "type:id", like tests/interop/c1zcheck.
func resourceKey(id *v2.ResourceId) string {
	return id.GetResourceType() + ":" + id.GetResource()
}
