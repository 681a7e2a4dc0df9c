// Package diskio holds the few Linux disk calls the standard library lacks,
// shared by the raft log store, imaging and erase: fdatasync, dropping a
// file's pages from the page cache, and exclusive block-device opens.
package diskio
