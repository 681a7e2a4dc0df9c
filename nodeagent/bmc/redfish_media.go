package bmc

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/stmcginnis/gofish"
	"github.com/stmcginnis/gofish/schemas"
)

// maxImageURLLength bounds an image URL; BMCs keep them in small buffers.
const maxImageURLLength = 2048

// InsertMedia implements VirtualMedia. It uses the device's
// VirtualMedia.InsertMedia action when the BMC declares one, else PATCHes
// Image and Inserted (BMCs predating the actions, like the DMTF mockups),
// then reads the device back to check the BMC reports the image inserted.
func (r *Redfish) InsertMedia(ctx context.Context, imageURL string) error {
	u, err := checkImageURL(imageURL)
	if err != nil {
		return fmt.Errorf("bmc: insert virtual media: %w", err)
	}
	op := "insert virtual media " + u.Redacted()
	var secrets []string
	if pw, ok := u.User.Password(); ok {
		secrets = append(secrets, pw)
	}
	return r.do(ctx, func(c *gofish.APIClient) error {
		dev, err := r.mediaDevice(c, op)
		if err != nil {
			return err
		}
		if dev.Inserted && dev.Image == imageURL {
			return nil
		}
		if dev.Inserted || dev.Image != "" {
			if err := r.eject(c, op, dev); err != nil {
				return err
			}
		}
		switch {
		case dev.Insert != nil:
			body := map[string]any{"Image": imageURL, "Inserted": true, "WriteProtected": true}
			if allowed, ok := dev.Insert.Allowable["TransferProtocolType"]; ok {
				proto := transferProtocol(u.Scheme)
				if !slices.Contains(allowed, proto) {
					return fmt.Errorf("bmc: %s: the BMC fetches images only over %v, not %s: %w", op, allowed, u.Scheme, ErrUnsupported)
				}
				body["TransferProtocolType"] = proto
			}
			err = post(c, dev.Insert.Target, body)
		case dev.HasImage:
			err = patch(c, dev.ODataID, map[string]any{"Image": imageURL, "Inserted": true, "WriteProtected": true})
		default:
			return fmt.Errorf("bmc: %s: %s has neither an InsertMedia action nor a writable Image: %w", op, dev.ODataID, ErrUnsupported)
		}
		if err != nil {
			return r.wrap(op, err, secrets...)
		}
		after, err := r.readMedia(c, dev.ODataID)
		if err != nil {
			return r.wrap(op+": read back", err, secrets...)
		}
		if !after.Inserted {
			return r.wrap(op, fmt.Errorf("the BMC accepted the image but %s reports nothing inserted", dev.ODataID), secrets...)
		}
		return nil
	})
}

// EjectMedia implements VirtualMedia.
func (r *Redfish) EjectMedia(ctx context.Context) error {
	const op = "eject virtual media"
	return r.do(ctx, func(c *gofish.APIClient) error {
		dev, err := r.mediaDevice(c, op)
		if err != nil {
			return err
		}
		if !dev.Inserted && dev.Image == "" {
			return nil
		}
		return r.eject(c, op, dev)
	})
}

// eject detaches dev's media and checks that the BMC says so.
func (r *Redfish) eject(c *gofish.APIClient, op string, dev mediaDoc) error {
	var err error
	switch {
	case dev.Eject != nil:
		err = post(c, dev.Eject.Target, map[string]any{})
	case dev.HasImage:
		err = patch(c, dev.ODataID, map[string]any{"Image": nil, "Inserted": false})
	default:
		return fmt.Errorf("bmc: %s: %s has neither an EjectMedia action nor a writable Image: %w", op, dev.ODataID, ErrUnsupported)
	}
	if err != nil {
		return r.wrap(op+": eject "+dev.ID, err)
	}
	after, err := r.readMedia(c, dev.ODataID)
	if err != nil {
		return r.wrap(op+": read back", err)
	}
	if after.Inserted {
		return r.wrap(op, fmt.Errorf("the BMC accepted the eject but %s still reports %q inserted", dev.ODataID, clean(after.Image)))
	}
	return nil
}

// mediaDevice finds the virtual CD/DVD of the selected system: in the
// system's own VirtualMedia collection (Redfish 2021.1 and later), else in
// those of the Managers that manage it. The first device, in the BMC's
// order, whose MediaTypes include CD or DVD is used.
func (r *Redfish) mediaDevice(c *gofish.APIClient, op string) (mediaDoc, error) {
	raw, err := getRaw(c, r.systemURI)
	if err != nil {
		return mediaDoc{}, r.wrap(op, err)
	}
	sys, err := parseSystem(raw)
	if err != nil {
		return mediaDoc{}, r.wrap(op, err)
	}
	var colls []string
	if sys.VirtualMedia != "" {
		colls = append(colls, sys.VirtualMedia)
	} else {
		managers := sys.ManagedBy
		if len(managers) == 0 {
			if managers, err = r.managerLinks(c); err != nil {
				return mediaDoc{}, r.wrap(op, err)
			}
		}
		for _, m := range managers {
			raw, err := getRaw(c, m)
			if err != nil {
				return mediaDoc{}, r.wrap(op, err)
			}
			md, err := parseManager(raw)
			if err != nil {
				return mediaDoc{}, r.wrap(op, err)
			}
			if md.VirtualMedia != "" {
				colls = append(colls, md.VirtualMedia)
			}
		}
	}
	var seen []string
	for _, coll := range colls {
		raw, err := getRaw(c, coll)
		if err != nil {
			return mediaDoc{}, r.wrap(op, err)
		}
		members, err := parseCollection(raw)
		if err != nil {
			return mediaDoc{}, r.wrap(op, err)
		}
		for _, m := range members {
			dev, err := r.readMedia(c, m)
			if err != nil {
				return mediaDoc{}, r.wrap(op, err)
			}
			if slices.Contains(dev.MediaTypes, "CD") || slices.Contains(dev.MediaTypes, "DVD") {
				return dev, nil
			}
			seen = append(seen, dev.ID)
		}
	}
	if len(colls) == 0 {
		return mediaDoc{}, fmt.Errorf("bmc: %s: neither system %s nor its Managers have VirtualMedia: %w", op, r.systemID, ErrUnsupported)
	}
	return mediaDoc{}, fmt.Errorf("bmc: %s: no virtual CD/DVD among the BMC's virtual media %v: %w", op, seen, ErrUnsupported)
}

func (r *Redfish) readMedia(c *gofish.APIClient, uri string) (mediaDoc, error) {
	raw, err := getRaw(c, uri)
	if err != nil {
		return mediaDoc{}, err
	}
	dev, err := parseMedia(raw)
	if err != nil {
		return mediaDoc{}, fmt.Errorf("%s: %w", uri, err)
	}
	if dev.ODataID == "" {
		dev.ODataID = uri
	}
	return dev, nil
}

// checkImageURL accepts absolute URLs a BMC can fetch: a scheme, a host, a
// path, no whitespace or control characters.
func checkImageURL(s string) (*url.URL, error) {
	if len(s) > maxImageURLLength {
		return nil, fmt.Errorf("image URL longer than %d bytes", maxImageURLLength)
	}
	if strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return nil, errors.New("image URL contains spaces or control characters; percent-encode them")
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || u.Host == "" || u.Opaque != "" {
		return nil, errors.New("image URL must be absolute, like https://host/path/image.iso")
	}
	return u, nil
}

// transferProtocol maps a URL scheme to a Redfish TransferProtocolType.
func transferProtocol(scheme string) string {
	switch s := strings.ToUpper(scheme); s {
	case "SMB":
		return "CIFS"
	default:
		return s
	}
}

func post(c *gofish.APIClient, uri string, body any) error {
	resp, err := c.Post(uri, body)
	schemas.DeferredCleanupHTTPResponse(resp)
	return err
}

func patch(c *gofish.APIClient, uri string, body any) error {
	resp, err := c.Patch(uri, body)
	schemas.DeferredCleanupHTTPResponse(resp)
	return err
}
