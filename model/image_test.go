package model

import (
	"errors"
	"strings"
	"testing"
)

func validImage() Image {
	return Image{Name: "rocky9-hpc", Version: "2024.06.1+cuda12", Size: 1 << 30,
		SHA256: strings.Repeat("ab", 32), SourceURL: "https://images.example.net/rocky9-hpc/2024.06.1.raw"}
}

func TestValidate(t *testing.T) {
	ok := []func(*Image){
		func(*Image) {},
		func(i *Image) { i.SourceURL = "http://10.0.0.1:8080/x.raw?sig=abc" },
		func(i *Image) { i.SourceURL = "file:///srv/images/rocky9.raw" },
		func(i *Image) { i.SourceURL = "file://localhost/srv/images/rocky9.raw" },
		func(i *Image) { i.Name, i.Version = "A", "1" },
		func(i *Image) { i.Name = strings.Repeat("n", MaxImageNameLen) },
		func(i *Image) { i.Name = "ubuntu_22.04-gpu" },
	}
	for i, mod := range ok {
		img := validImage()
		mod(&img)
		if err := img.Validate(); err != nil {
			t.Errorf("ok case %d (%+v): %v", i, img, err)
		}
	}
	bad := map[string]func(*Image){
		"empty name":        func(i *Image) { i.Name = "" },
		"long name":         func(i *Image) { i.Name = strings.Repeat("n", MaxImageNameLen+1) },
		"dotdot name":       func(i *Image) { i.Name = "a..b" },
		"traversal name":    func(i *Image) { i.Name = "../etc" },
		"slash name":        func(i *Image) { i.Name = "a/b" },
		"backslash name":    func(i *Image) { i.Name = `a\b` },
		"leading dash":      func(i *Image) { i.Name = "-rf" },
		"leading dot":       func(i *Image) { i.Name = ".hidden" },
		"space name":        func(i *Image) { i.Name = "a b" },
		"unicode name":      func(i *Image) { i.Name = "rocky９" },
		"nul name":          func(i *Image) { i.Name = "a\x00" },
		"plus in name":      func(i *Image) { i.Name = "a+b" },
		"empty version":     func(i *Image) { i.Version = "" },
		"dotdot version":    func(i *Image) { i.Version = "1..2" },
		"slash version":     func(i *Image) { i.Version = "1/2" },
		"zero size":         func(i *Image) { i.Size = 0 },
		"negative size":     func(i *Image) { i.Size = -1 },
		"short sha":         func(i *Image) { i.SHA256 = "abc" },
		"upper sha":         func(i *Image) { i.SHA256 = strings.Repeat("AB", 32) },
		"non-hex sha":       func(i *Image) { i.SHA256 = strings.Repeat("g", 64) },
		"ftp":               func(i *Image) { i.SourceURL = "ftp://h/x" },
		"no scheme":         func(i *Image) { i.SourceURL = "/srv/x.raw" },
		"javascript":        func(i *Image) { i.SourceURL = "javascript:alert(1)" },
		"no host":           func(i *Image) { i.SourceURL = "http:///x" },
		"credentials":       func(i *Image) { i.SourceURL = "https://u:p@h/x" },
		"fragment":          func(i *Image) { i.SourceURL = "https://h/x#frag" },
		"space in URL":      func(i *Image) { i.SourceURL = "https://h/x y" },
		"remote file":       func(i *Image) { i.SourceURL = "file://otherhost/x" },
		"relative file":     func(i *Image) { i.SourceURL = "file:x.raw" },
		"file traversal":    func(i *Image) { i.SourceURL = "file:///srv/images/../../etc/shadow" },
		"encoded traversal": func(i *Image) { i.SourceURL = "file:///srv/%2e%2e/etc/shadow" },
		"file double slash": func(i *Image) { i.SourceURL = "file:///srv//x" },
		"file root":         func(i *Image) { i.SourceURL = "file:///" },
		"file query":        func(i *Image) { i.SourceURL = "file:///srv/x?y" },
		"file encoded nul":  func(i *Image) { i.SourceURL = "file:///srv/x%00" },
		"long URL":          func(i *Image) { i.SourceURL = "https://h/" + strings.Repeat("x", MaxImageURLLen) },
	}
	for name, mod := range bad {
		img := validImage()
		mod(&img)
		if err := img.Validate(); !errors.Is(err, ErrInvalidImage) {
			t.Errorf("%s (%+v): want ErrInvalidImage, got %v", name, img, err)
		}
	}
}
