package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"

	"github.com/ibex-hpc/ibex/model"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
)

// The block hash list of an image being added to the catalog: the CLI
// reads the image once (--file, or its source URL), checks that its size
// and SHA-256 are what the admin said, and sends the per-block hashes
// with the entry. Agents check every block against the list when they
// write the image, and the leader checks random blocks of a node's disk
// against it before the node is handed out.

// imageBlocks reads the image from file (or, without one, from the
// catalog entry's URL) and fills in img's block list.
func imageBlocks(ctx context.Context, img *pb.Image, file string) error {
	var r io.ReadCloser
	switch {
	case file != "":
		f, err := os.Open(file)
		if err != nil {
			return fmt.Errorf("--file: %w", err)
		}
		r = f
	default:
		u, err := url.Parse(img.SourceUrl)
		if err != nil {
			return fmt.Errorf("--url: %w", err)
		}
		switch u.Scheme {
		case "file":
			f, err := os.Open(u.Path)
			if err != nil {
				return fmt.Errorf("read the image to hash its blocks: %w (on another host? pass a local copy with --file)", err)
			}
			r = f
		case "http", "https":
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, img.SourceUrl, nil)
			if err != nil {
				return err
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return fmt.Errorf("fetch the image to hash its blocks: %w (or pass a local copy with --file)", err)
			}
			if resp.StatusCode != http.StatusOK {
				resp.Body.Close()
				return fmt.Errorf("fetch %s: %s", img.SourceUrl, resp.Status)
			}
			r = resp.Body
		default:
			return fmt.Errorf("--url scheme %q: want file, http or https", u.Scheme)
		}
	}
	defer r.Close()
	size, sum, bs, blocks, err := model.HashImage(r, int64(img.Size), int64(img.Size))
	if err != nil {
		return fmt.Errorf("hash the image: %w", err)
	}
	if uint64(size) != img.Size || sum != img.Sha256 {
		return fmt.Errorf("the image read is %d bytes with SHA-256 %s, not the %d bytes and %s given: wrong file, or --size/--sha256 are wrong", size, sum, img.Size, img.Sha256)
	}
	img.BlockSize, img.BlockSha256 = uint64(bs), blocks
	return nil
}
