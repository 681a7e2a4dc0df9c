package agent

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/ibex-hpc/ibex/model"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
)

func challengeJSON(t *testing.T, c model.Challenge) string {
	t.Helper()
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func answerOf(t *testing.T, r *pb.TaskResult) model.Answer {
	t.Helper()
	a, err := model.ParseAnswer([]byte(r.GetAnswerJson()))
	if err != nil {
		t.Fatalf("result %v: %v", r, err)
	}
	return a
}

// catalogImage is content with its block list, as `ibex images add`
// records it.
func catalogImage(content []byte, url string) model.Image {
	h := model.NewBlockHasher(model.ImageBlockSize(int64(len(content))))
	h.Write(content)
	sum, size := h.Sum()
	return model.Image{Name: "rocky9-hpc", Version: "2024.06.1", Size: size, SHA256: sum, SourceURL: url, BlockSize: h.BlockSize, Blocks: h.Blocks}
}

func wireImage(img model.Image) *pb.Image {
	return &pb.Image{Name: img.Name, Version: img.Version, Size: uint64(img.Size), Sha256: img.SHA256, SourceUrl: img.SourceURL,
		BlockSize: uint64(img.BlockSize), BlockSha256: img.Blocks}
}

// TestTasksAnswerTheLeadersChallenges: erase, image and firmware tasks
// answer the challenge they carry, and each answer passes the server's
// check for that challenge only.
func TestTasksAnswerTheLeadersChallenges(t *testing.T) {
	env := newTestEnv(t)
	pin := firmwareSetup(t, env)
	if err := os.WriteFile(env.disk, bytes.Repeat([]byte("A's secret "), 200000), 0o600); err != nil {
		t.Fatal(err)
	}
	content := randomBytes(t, 3<<20+123)
	srv := newImageServer(t, content, 0, 0)
	img := catalogImage(content, srv.URL+"/img")
	_, c, _ := enrolled(t, env, nil)

	ec := model.Challenge{Nonce: "0123456789abcdef0123456789abcdef", Draws: []uint64{5, 1 << 33, 999}, SampleSize: 4096}
	c.send <- &pb.AgentTask{Id: "e", ChallengeJson: challengeJSON(t, ec), Kind: &pb.AgentTask_Erase{Erase: &pb.EraseTask{}}}
	r := c.result(t, "e")
	if v, err := model.CheckErase(ec, answerOf(t, r), 0); err != nil {
		t.Fatalf("erase answer refused: %v", err)
	} else {
		t.Log(v)
	}
	ec2 := ec
	ec2.Nonce = "11111111111111111111111111111111"
	if _, err := model.CheckErase(ec2, answerOf(t, r), 0); err == nil {
		t.Fatal("the erase answer passes another challenge")
	}

	ic := model.Challenge{Nonce: "0123456789abcdef0123456789abcdef", Image: img.Ref(), Blocks: []int{3, 0}}
	c.send <- &pb.AgentTask{Id: "i", ChallengeJson: challengeJSON(t, ic), Kind: &pb.AgentTask_Image{Image: &pb.ImageTask{Image: wireImage(img)}}}
	if _, err := model.CheckImageBlocks(ic, answerOf(t, c.result(t, "i")), img); err != nil {
		t.Fatalf("image answer refused: %v", err)
	}

	fc := model.Challenge{Nonce: "0123456789abcdef0123456789abcdef", Pins: map[string]string{pin.Psid: pin.Version}}
	task := firmwareTask("f", pin)
	task.ChallengeJson = challengeJSON(t, fc)
	c.send <- task
	if _, err := model.CheckFirmware(fc, answerOf(t, c.result(t, "f"))); err != nil {
		t.Fatalf("firmware answer refused: %v", err)
	}
}

// TestImageBlockListMismatchFailsTheWrite: a block list that does not
// describe the image fails the write, so no node holds an image no
// hand-out check could pass.
func TestImageBlockListMismatchFailsTheWrite(t *testing.T) {
	env := newTestEnv(t)
	content := randomBytes(t, 2<<20)
	srv := newImageServer(t, content, 0, 0)
	img := catalogImage(content, srv.URL+"/img")
	img.Blocks[1] = strings.Repeat("0", 64)
	_, c, _ := enrolled(t, env, nil)
	c.send <- &pb.AgentTask{Id: "i", Kind: &pb.AgentTask_Image{Image: &pb.ImageTask{Image: wireImage(img)}}}
	if r := c.result(t, "i"); r.GetOk() || !strings.Contains(r.GetError(), "block sha256 mismatch") {
		t.Fatalf("result %v", r)
	}
}

// TestHandoutCheckReadsTheNodeNow: the hand-out check reads the image
// blocks, every firmware source and the P_Key tables as they are now: a
// byte flipped on the disk since the image was written, or a tenant key
// left in the table, makes the server refuse the node.
func TestHandoutCheckReadsTheNodeNow(t *testing.T) {
	env := newTestEnv(t)
	pin := firmwareSetup(t, env)
	content := randomBytes(t, 2<<20+5)
	srv := newImageServer(t, content, 0, 0)
	img := catalogImage(content, srv.URL+"/img")
	writeSysfsPKeys(t, env.sysfs, "mlx5_0", "0x7fff")
	_, c, _ := enrolled(t, env, nil)
	c.send <- firmwareTask("f", pin)
	c.result(t, "f")
	c.send <- &pb.AgentTask{Id: "i", Kind: &pb.AgentTask_Image{Image: &pb.ImageTask{Image: wireImage(img)}}}
	if r := c.result(t, "i"); !r.GetOk() {
		t.Fatal(r)
	}
	hc := model.Challenge{Nonce: "0123456789abcdef0123456789abcdef", Image: img.Ref(), Blocks: []int{2, 1, 0},
		Pins: map[string]string{pin.Psid: pin.Version}, PKeys: true}
	handout := func(id string) (string, error) {
		t.Helper()
		c.send <- &pb.AgentTask{Id: id, ChallengeJson: challengeJSON(t, hc),
			Kind: &pb.AgentTask_Handout{Handout: &pb.HandoutTask{Image: wireImage(img), Pins: []*pb.FirmwarePin{pin}}}}
		r := c.result(t, id)
		t.Logf("hand-out evidence: %s", r.GetEvidenceJson())
		return model.CheckHandout(hc, answerOf(t, r), &img)
	}
	if fi, err := os.Stat(env.disk); err != nil || fi.Size() != img.Size {
		t.Fatalf("disk %v %v, image %d", fi.Size(), err, img.Size)
	}
	v, err := handout("h1")
	if err != nil {
		t.Fatalf("clean node refused: %v", err)
	}
	t.Log(v)

	disk, err := os.ReadFile(env.disk)
	if err != nil {
		t.Fatal(err)
	}
	disk[2<<20+1] ^= 0x01 // in block 2, the short last one
	if err := os.WriteFile(env.disk, disk, 0o600); err != nil {
		t.Fatal(err)
	}
	writeSysfsPKeys(t, env.sysfs, "mlx5_0", "0x7fff", "0x8010")
	if _, err := handout("h2"); err == nil || !strings.Contains(err.Error(), "blocks [2] on the disk differ") || !strings.Contains(err.Error(), "holds P_Key 0x8010") {
		t.Fatalf("tampered node: %v", err)
	}
}

func writeSysfsPKeys(t *testing.T, root, dev string, keys ...string) {
	t.Helper()
	dir := root + "/sys/class/infiniband/" + dev + "/ports/1/pkeys"
	os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, k := range keys {
		if err := os.WriteFile(dir+"/"+string(rune('0'+i)), []byte(k+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func FuzzParseChallenge(f *testing.F) {
	f.Add(`{"nonce":"0123456789abcdef0123456789abcdef","draws":[1,2],"sample_size":4096}`)
	f.Add(`{"nonce":"0123456789abcdef0123456789abcdef","image":"a:1","blocks":[0,3],"pins":{"MT_1":"1.2.3"},"pkeys":true}`)
	f.Fuzz(func(t *testing.T, s string) {
		c, err := parseChallenge(&pb.AgentTask{ChallengeJson: s})
		if err != nil || c == nil {
			return
		}
		if len(c.Draws) > model.MaxEraseDraws || len(c.Blocks) > model.MaxChallengeBlocks {
			t.Fatalf("out-of-bounds challenge accepted: %d draws, %d blocks", len(c.Draws), len(c.Blocks))
		}
	})
}
