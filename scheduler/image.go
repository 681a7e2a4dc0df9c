package scheduler

// Image affinity: a job that asks for an OS image (JobOptions.Image) is
// placed, where it costs nothing in topology, on hosts that already carry
// it, since those skip the rewrite (a power cycle, the image written and
// verified, a boot to disk). It is only ever a tie-break: the number of
// leaf groups, the switch the job stays under and the tightest fit come
// first, exactly as without an image. It breaks ties three ways: among
// leaf groups the tightest fit finds equal (bestGroup), among equally
// free groups a spread takes (spread), and among the hosts of a group
// (pick). The scheduler stays a function of the snapshot: the hosts'
// images come from its nodes.

// preferImage makes v prefer hosts carrying r's image.
func (ps *pass) preferImage(v view, r *Request) view {
	if r.Image != "" && ps.images != nil {
		v.img, v.imgs = r.Image, ps.images
	}
	return v
}

// carries reports whether free host h carries the view's image.
func (v view) carries(h int32) bool {
	return v.img != "" && v.imgs[h] == v.img
}

// carriers counts group g's free eligible hosts carrying the image.
func (v view) carriers(g int32) int32 {
	if v.img == "" {
		return 0
	}
	gr := &v.o.t.groups[g]
	var n int32
	for h := gr.lo; h < gr.hi; h++ {
		if v.o.free[h] && v.eligible(h) && v.carries(h) {
			n++
		}
	}
	return n
}

// moreCarriers reports whether group g carries more of the image than
// group best (best < 0: none chosen yet, nothing to prefer).
func (v view) moreCarriers(g, best int32) bool {
	return v.img != "" && best >= 0 && v.carriers(g) > v.carriers(best)
}

// pickCarriers appends up to x free eligible hosts of group g that carry
// the image (not those marked last) and returns how many are still needed.
func (v view) pickCarriers(g, x int32, out []int32) ([]int32, int32) {
	gr := &v.o.t.groups[g]
	for h := gr.lo; h < gr.hi && x > 0; h++ {
		if v.o.free[h] && v.eligible(h) && v.carries(h) && (v.last == nil || !v.last[h]) {
			out = append(out, h)
			x--
		}
	}
	return out, x
}
