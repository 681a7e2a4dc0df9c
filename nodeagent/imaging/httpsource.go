package imaging

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// HTTPSource fetches an image with GET and resumes with Range requests.
//
// A resume is trusted only when the server proves it honoured the range:
// status 206 and a Content-Range that starts at the requested offset and
// runs to the image's last byte. A 200 means the server ignored the Range
// (or, with If-Range, that the file changed), so Open reports start 0 and
// Write starts over with a fresh hash. A 206 with the wrong range makes
// later attempts stop asking for ranges at all.
//
// If-Range carries the first response's strong ETag (or Last-Modified), so
// a resume never splices bytes of two different files.
type HTTPSource struct {
	Client *http.Client // nil: http.DefaultClient
	URL    string
	Size   int64 // expected total size

	validator string // for If-Range
	noRange   bool   // the server mangled a range once; always start at 0
}

// Open issues the GET. off > 0 asks for "Range: bytes=off-".
func (s *HTTPSource) Open(ctx context.Context, off int64) (io.ReadCloser, int64, error) {
	if s.noRange {
		off = 0
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL, nil)
	if err != nil {
		return nil, 0, permanent(err)
	}
	// The digest is over the bytes as stored. Transparent gzip would both
	// change what the body is and make Range offsets refer to something
	// else, so ask for the identity encoding explicitly.
	req.Header.Set("Accept-Encoding", "identity")
	if off > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", off))
		if s.validator != "" {
			req.Header.Set("If-Range", s.validator)
		}
	}
	client := s.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, 0, err
	}
	switch resp.StatusCode {
	case http.StatusOK:
		if resp.ContentLength >= 0 && resp.ContentLength != s.Size {
			discard(resp)
			return nil, 0, &MismatchError{Err: ErrSizeMismatch, Want: fmt.Sprint(s.Size), Got: fmt.Sprintf("%d (Content-Length)", resp.ContentLength)}
		}
		s.validator = validator(resp.Header)
		return resp.Body, 0, nil
	case http.StatusPartialContent:
		cr := resp.Header.Get("Content-Range")
		start, end, total, perr := parseContentRange(cr)
		if perr == nil && total >= 0 && total != s.Size {
			discard(resp)
			return nil, 0, &MismatchError{Err: ErrSizeMismatch, Want: fmt.Sprint(s.Size), Got: fmt.Sprintf("%d (Content-Range %q)", total, cr)}
		}
		if off == 0 || perr != nil || start != off || end != s.Size-1 ||
			resp.ContentLength >= 0 && resp.ContentLength != s.Size-off {
			discard(resp)
			s.noRange = true
			return nil, 0, fmt.Errorf("imaging: asked for bytes=%d-, got 206 with Content-Range %q and Content-Length %d; will restart without Range",
				off, cr, resp.ContentLength)
		}
		return resp.Body, off, nil
	default:
		discard(resp)
		return nil, 0, &HTTPStatusError{Code: resp.StatusCode, Status: resp.Status}
	}
}

// discard drains a little of an unused body so the connection can be
// reused, then closes it.
func discard(resp *http.Response) {
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
}

// validator returns what If-Range may carry: a strong ETag, else
// Last-Modified, else "". Weak ETags are not allowed in If-Range.
func validator(h http.Header) string {
	if et := h.Get("ETag"); et != "" && !strings.HasPrefix(et, "W/") {
		return et
	}
	return h.Get("Last-Modified")
}

var errContentRange = errors.New("malformed Content-Range")

// parseContentRange parses "bytes first-last/total" (total may be "*",
// returned as -1).
func parseContentRange(s string) (first, last, total int64, err error) {
	rest, ok := strings.CutPrefix(s, "bytes ")
	if !ok {
		return 0, 0, 0, errContentRange
	}
	rng, tot, ok := strings.Cut(rest, "/")
	if !ok {
		return 0, 0, 0, errContentRange
	}
	a, b, ok := strings.Cut(rng, "-")
	if !ok {
		return 0, 0, 0, errContentRange
	}
	if first, err = strconv.ParseInt(a, 10, 64); err != nil || first < 0 {
		return 0, 0, 0, errContentRange
	}
	if last, err = strconv.ParseInt(b, 10, 64); err != nil || last < first {
		return 0, 0, 0, errContentRange
	}
	total = -1
	if tot != "*" {
		if total, err = strconv.ParseInt(tot, 10, 64); err != nil || total <= last {
			return 0, 0, 0, errContentRange
		}
	}
	return first, last, total, nil
}
