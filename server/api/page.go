package api

import "google.golang.org/protobuf/proto"

// Listings are paged so that a response stays far below gRPC's 4 MiB
// message limit however many records the state holds and however large
// each one is (every field is bounded at submission, but a page of 5,000
// large jobs would still not fit).
const (
	defaultPageSize = 1000
	maxPageSize     = 5000
	maxPageBytes    = 2 << 20
)

// page counts the records and bytes of one response.
type page struct {
	left, bytes int
}

func newPage(size uint32) *page {
	n := int(size)
	if n <= 0 {
		n = defaultPageSize
	}
	return &page{left: min(n, maxPageSize)}
}

// add reports whether m still fits the page and counts it. The first
// record always fits, so a page is never empty while records remain.
func (p *page) add(m proto.Message) bool {
	size := proto.Size(m)
	if p.left == 0 || (p.bytes > 0 && p.bytes+size > maxPageBytes) {
		return false
	}
	p.left--
	p.bytes += size
	return true
}
