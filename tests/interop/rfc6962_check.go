// rfc6962_check verifies Streha's Merkle tree heads, inclusion and consistency proofs,
// signed checkpoints, witness cosignatures and C2SP tlog-proofs with an implementation
// that is not Streha's: Go's golang.org/x/mod/sumdb/tlog (RFC 6962) and
// golang.org/x/mod/sumdb/note (C2SP signed-note).
//
// It is run by tests/tests/rfc6962_interop.rs, which writes its input. Usage:
//
//	rfc6962_check INPUT.json
//
// INPUT is a JSON array of logs (byte strings are base64, as encoding/json reads []byte):
//
//	[{"name": "...",                  // the log's origin (also its key name)
//	  "vkey": "...",                  // optional: the log's note verifier key
//	  "witness_vkeys": ["..."],       // optional: cosignature/v1 (type 0x04) verifier keys
//	  "entries": ["<base64>", ...],   // every entry of the log, index 0 first
//	  "heads": [{"size": N, "root": "<base64>"}],
//	  "checkpoints": ["<signed note text>"],
//	  "inclusion": [{"index": I, "size": N, "proof": ["<base64>", ...]}],
//	  "consistency": [{"old": M, "new": N, "proof": ["<base64>", ...]}],
//	  "tlog_proofs": [{"text": "<c2sp.org/tlog-proof@v1 text>", "entry": "<base64>"}]}]
//
// Every check uses only the Go module: leaf and tree hashes are tlog.RecordHash and
// tlog.TreeHash over the entries, proofs are checked with tlog.CheckRecord and
// tlog.CheckTree and must equal tlog.ProveRecord and tlog.ProveTree byte for byte, notes
// are opened with note.Open. It prints one line per log and exits 0 if everything holds,
// 1 with every failure listed otherwise, 2 on unreadable input.
package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

type head struct {
	Size int64  `json:"size"`
	Root []byte `json:"root"`
}

type inclusion struct {
	Index int64    `json:"index"`
	Size  int64    `json:"size"`
	Proof [][]byte `json:"proof"`
}

type consistency struct {
	Old   int64    `json:"old"`
	New   int64    `json:"new"`
	Proof [][]byte `json:"proof"`
}

type tlogProof struct {
	Text  string `json:"text"`
	Entry []byte `json:"entry"`
}

type log struct {
	Name         string        `json:"name"`
	Vkey         string        `json:"vkey"`
	WitnessVkeys []string      `json:"witness_vkeys"`
	Entries      [][]byte      `json:"entries"`
	Heads        []head        `json:"heads"`
	Checkpoints  []string      `json:"checkpoints"`
	Inclusion    []inclusion   `json:"inclusion"`
	Consistency  []consistency `json:"consistency"`
	TlogProofs   []tlogProof   `json:"tlog_proofs"`
}

// hashStore keeps the stored hashes of tlog's layout in memory.
type hashStore []tlog.Hash

func (s hashStore) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		if x < 0 || x >= int64(len(s)) {
			return nil, fmt.Errorf("stored hash %d not present", x)
		}
		out[i] = s[x]
	}
	return out, nil
}

type checker struct {
	log      log
	store    hashStore
	failures []string
	counts   map[string]int
}

func (c *checker) fail(format string, args ...interface{}) {
	c.failures = append(c.failures, fmt.Sprintf("%s: ", c.log.Name)+fmt.Sprintf(format, args...))
}

func toHash(b []byte) (tlog.Hash, error) {
	var h tlog.Hash
	if len(b) != tlog.HashSize {
		return h, fmt.Errorf("a hash of %d bytes", len(b))
	}
	copy(h[:], b)
	return h, nil
}

func toHashes(bs [][]byte) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(bs))
	for i, b := range bs {
		h, err := toHash(b)
		if err != nil {
			return nil, fmt.Errorf("proof hash %d: %v", i, err)
		}
		out[i] = h
	}
	return out, nil
}

func sameHashes(a, b []tlog.Hash) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// treeHash is tlog.TreeHash over the entries, with RFC 6962's empty root for size 0
// (tlog answers the zero hash there).
func (c *checker) treeHash(size int64) (tlog.Hash, error) {
	if size < 0 || size > int64(len(c.log.Entries)) {
		return tlog.Hash{}, fmt.Errorf("size %d beyond the %d entries given", size, len(c.log.Entries))
	}
	if size == 0 {
		return tlog.Hash(sha256.Sum256(nil)), nil
	}
	return tlog.TreeHash(size, c.store)
}

func (c *checker) build() error {
	for i, e := range c.log.Entries {
		hashes, err := tlog.StoredHashes(int64(i), e, c.store)
		if err != nil {
			return fmt.Errorf("storing entry %d: %v", i, err)
		}
		c.store = append(c.store, hashes...)
	}
	return nil
}

func (c *checker) heads() {
	for _, h := range c.log.Heads {
		want, err := toHash(h.Root)
		if err != nil {
			c.fail("head %d: %v", h.Size, err)
			continue
		}
		got, err := c.treeHash(h.Size)
		if err != nil {
			c.fail("head %d: %v", h.Size, err)
			continue
		}
		if got != want {
			c.fail("tree head at size %d: Streha says %v, tlog.TreeHash computes %v", h.Size, want, got)
			continue
		}
		c.counts["tree heads"]++
	}
}

func (c *checker) inclusions() {
	for _, p := range c.log.Inclusion {
		proof, err := toHashes(p.Proof)
		if err != nil {
			c.fail("inclusion of %d in %d: %v", p.Index, p.Size, err)
			continue
		}
		if p.Index < 0 || p.Index >= int64(len(c.log.Entries)) {
			c.fail("inclusion of %d in %d: no such entry", p.Index, p.Size)
			continue
		}
		root, err := c.treeHash(p.Size)
		if err != nil {
			c.fail("inclusion of %d in %d: %v", p.Index, p.Size, err)
			continue
		}
		leaf := tlog.RecordHash(c.log.Entries[p.Index])
		if err := tlog.CheckRecord(proof, p.Size, root, p.Index, leaf); err != nil {
			c.fail("inclusion of %d in %d: tlog.CheckRecord: %v", p.Index, p.Size, err)
			continue
		}
		own, err := tlog.ProveRecord(p.Size, p.Index, c.store)
		if err != nil || !sameHashes(own, proof) {
			c.fail("inclusion of %d in %d: differs from tlog.ProveRecord (%v)", p.Index, p.Size, err)
			continue
		}
		c.counts["inclusion proofs"]++
	}
}

func (c *checker) consistencies() {
	empty := tlog.Hash(sha256.Sum256(nil))
	for _, p := range c.log.Consistency {
		proof, err := toHashes(p.Proof)
		if err != nil {
			c.fail("consistency %d to %d: %v", p.Old, p.New, err)
			continue
		}
		oldRoot, err1 := c.treeHash(p.Old)
		newRoot, err2 := c.treeHash(p.New)
		if err1 != nil || err2 != nil {
			c.fail("consistency %d to %d: %v %v", p.Old, p.New, err1, err2)
			continue
		}
		if p.Old == 0 {
			// Outside tlog's domain (it needs 1 <= old): RFC 9162 §2.1.4 leaves it to the
			// implementation; Streha's empty proof from the empty tree (spec §2.2).
			if len(proof) != 0 || oldRoot != empty {
				c.fail("consistency 0 to %d: not the empty proof from the empty root", p.New)
				continue
			}
			c.counts["consistency proofs"]++
			continue
		}
		if err := tlog.CheckTree(proof, p.New, newRoot, p.Old, oldRoot); err != nil {
			c.fail("consistency %d to %d: tlog.CheckTree: %v", p.Old, p.New, err)
			continue
		}
		own, err := tlog.ProveTree(p.New, p.Old, c.store)
		if err != nil || !sameHashes(own, proof) {
			c.fail("consistency %d to %d: differs from tlog.ProveTree (%v)", p.Old, p.New, err)
			continue
		}
		c.counts["consistency proofs"]++
	}
}

// cosignatureVerifier is a note.Verifier for C2SP tlog-cosignature cosignature/v1
// (signature type 0x04): the signature is an 8-byte timestamp, then Ed25519 over
// "cosignature/v1\ntime <timestamp>\n" followed by the checkpoint body.
type cosignatureVerifier struct {
	name string
	hash uint32
	key  ed25519.PublicKey
}

func (v *cosignatureVerifier) Name() string    { return v.name }
func (v *cosignatureVerifier) KeyHash() uint32 { return v.hash }
func (v *cosignatureVerifier) Verify(msg, sig []byte) bool {
	if len(sig) != 8+ed25519.SignatureSize {
		return false
	}
	t := binary.BigEndian.Uint64(sig[:8])
	signed := []byte(fmt.Sprintf("cosignature/v1\ntime %d\n", t))
	signed = append(signed, msg...)
	return ed25519.Verify(v.key, signed, sig[8:])
}

func newCosignatureVerifier(vkey string) (note.Verifier, error) {
	parts := strings.SplitN(vkey, "+", 3)
	if len(parts) != 3 || len(parts[1]) != 8 {
		return nil, errors.New("malformed vkey")
	}
	hash, err := strconv.ParseUint(parts[1], 16, 32)
	if err != nil {
		return nil, err
	}
	key, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil || len(key) != 1+ed25519.PublicKeySize || key[0] != 0x04 {
		return nil, errors.New("not a type 0x04 Ed25519 key")
	}
	h := sha256.New()
	h.Write([]byte(parts[0]))
	h.Write([]byte{'\n'})
	h.Write(key)
	if binary.BigEndian.Uint32(h.Sum(nil)) != uint32(hash) {
		return nil, errors.New("key hash does not match")
	}
	return &cosignatureVerifier{name: parts[0], hash: uint32(hash), key: ed25519.PublicKey(key[1:])}, nil
}

func (c *checker) verifiers() (note.Verifiers, int, error) {
	var vs []note.Verifier
	if c.log.Vkey != "" {
		v, err := note.NewVerifier(c.log.Vkey)
		if err != nil {
			return nil, 0, fmt.Errorf("log vkey: %v", err)
		}
		vs = append(vs, v)
	}
	for _, w := range c.log.WitnessVkeys {
		v, err := newCosignatureVerifier(w)
		if err != nil {
			return nil, 0, fmt.Errorf("witness vkey %q: %v", w, err)
		}
		vs = append(vs, v)
	}
	return note.VerifierList(vs...), len(vs), nil
}

// parseCheckpoint reads a C2SP tlog-checkpoint body: origin, size, base64 root.
func parseCheckpoint(text string) (string, int64, tlog.Hash, error) {
	lines := strings.SplitN(text, "\n", 4)
	if len(lines) < 4 {
		return "", 0, tlog.Hash{}, errors.New("fewer than three lines")
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 || lines[1] != strconv.FormatInt(size, 10) {
		return "", 0, tlog.Hash{}, errors.New("malformed size")
	}
	raw, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil {
		return "", 0, tlog.Hash{}, errors.New("malformed root")
	}
	root, err := toHash(raw)
	return lines[0], size, root, err
}

// openCheckpoint opens a signed checkpoint with note.Open and checks that the log's key
// signed it, that every known witness's cosignature verifies, and that its root is
// tlog.TreeHash of the entries.
func (c *checker) openCheckpoint(text string, known note.Verifiers) (int64, tlog.Hash, error) {
	n, err := note.Open([]byte(text), known)
	if err != nil {
		return 0, tlog.Hash{}, fmt.Errorf("note.Open: %v", err)
	}
	logSigned := false
	for _, s := range n.Sigs {
		if s.Name == c.log.Name {
			logSigned = true
		}
	}
	if !logSigned {
		return 0, tlog.Hash{}, errors.New("not signed by the log's key")
	}
	if len(n.Sigs) > 1 {
		c.counts["witness cosignatures"] += len(n.Sigs) - 1
	}
	origin, size, root, err := parseCheckpoint(n.Text)
	if err != nil {
		return 0, tlog.Hash{}, err
	}
	if origin != c.log.Name {
		return 0, tlog.Hash{}, fmt.Errorf("origin %q, expected %q", origin, c.log.Name)
	}
	if len(c.log.Entries) > 0 || size == 0 {
		want, err := c.treeHash(size)
		if err != nil {
			return 0, tlog.Hash{}, err
		}
		if want != root {
			return 0, tlog.Hash{}, fmt.Errorf("root at size %d is not tlog.TreeHash of the entries", size)
		}
	}
	return size, root, nil
}

func (c *checker) checkpoints() {
	if len(c.log.Checkpoints) == 0 {
		return
	}
	known, count, err := c.verifiers()
	if err != nil || count == 0 {
		c.fail("checkpoints: no usable verifier (%v)", err)
		return
	}
	for i, text := range c.log.Checkpoints {
		if _, _, err := c.openCheckpoint(text, known); err != nil {
			c.fail("checkpoint %d: %v", i, err)
			continue
		}
		c.counts["signed checkpoints"]++
	}
}

// parseTlogProof reads a C2SP tlog-proof@v1: header, optional extra, index, proof lines,
// an empty line, then the signed checkpoint.
func parseTlogProof(text string) (int64, []tlog.Hash, string, error) {
	rest := text
	line := func() (string, bool) {
		i := strings.IndexByte(rest, '\n')
		if i < 0 {
			return "", false
		}
		l := rest[:i]
		rest = rest[i+1:]
		return l, true
	}
	l, ok := line()
	if !ok || l != "c2sp.org/tlog-proof@v1" {
		return 0, nil, "", errors.New("not a c2sp.org/tlog-proof@v1")
	}
	l, ok = line()
	if ok && strings.HasPrefix(l, "extra ") {
		l, ok = line()
	}
	if !ok || !strings.HasPrefix(l, "index ") {
		return 0, nil, "", errors.New("no index line")
	}
	index, err := strconv.ParseInt(strings.TrimPrefix(l, "index "), 10, 64)
	if err != nil || index < 0 {
		return 0, nil, "", errors.New("malformed index")
	}
	var proof []tlog.Hash
	for {
		l, ok = line()
		if !ok {
			return 0, nil, "", errors.New("no empty line before the checkpoint")
		}
		if l == "" {
			break
		}
		raw, err := base64.StdEncoding.DecodeString(l)
		if err != nil {
			return 0, nil, "", errors.New("malformed proof line")
		}
		h, err := toHash(raw)
		if err != nil {
			return 0, nil, "", err
		}
		proof = append(proof, h)
	}
	return index, proof, rest, nil
}

func (c *checker) tlogProofs() {
	if len(c.log.TlogProofs) == 0 {
		return
	}
	known, count, err := c.verifiers()
	if err != nil || count == 0 {
		c.fail("tlog-proofs: no usable verifier (%v)", err)
		return
	}
	for i, p := range c.log.TlogProofs {
		index, proof, checkpoint, err := parseTlogProof(p.Text)
		if err != nil {
			c.fail("tlog-proof %d: %v", i, err)
			continue
		}
		size, root, err := c.openCheckpoint(checkpoint, known)
		if err != nil {
			c.fail("tlog-proof %d: checkpoint: %v", i, err)
			continue
		}
		if index >= size {
			c.fail("tlog-proof %d: index %d not below the checkpoint size %d", i, index, size)
			continue
		}
		if int64(len(c.log.Entries)) > index && !bytes.Equal(c.log.Entries[index], p.Entry) {
			c.fail("tlog-proof %d: the entry is not entry %d of the log", i, index)
			continue
		}
		if err := tlog.CheckRecord(proof, size, root, index, tlog.RecordHash(p.Entry)); err != nil {
			c.fail("tlog-proof %d (entry %d of %d): tlog.CheckRecord: %v", i, index, size, err)
			continue
		}
		c.counts["tlog-proofs"]++
	}
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: rfc6962_check INPUT.json")
		os.Exit(2)
	}
	data, err := os.ReadFile(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var logs []log
	if err := json.Unmarshal(data, &logs); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", os.Args[1], err)
		os.Exit(2)
	}
	var failures []string
	for _, l := range logs {
		c := &checker{log: l, counts: map[string]int{}}
		if err := c.build(); err != nil {
			c.fail("%v", err)
		} else {
			c.heads()
			c.inclusions()
			c.consistencies()
			c.checkpoints()
			c.tlogProofs()
		}
		failures = append(failures, c.failures...)
		var summary []string
		for _, k := range []string{"tree heads", "inclusion proofs", "consistency proofs", "signed checkpoints", "witness cosignatures", "tlog-proofs"} {
			summary = append(summary, fmt.Sprintf("%d %s", c.counts[k], k))
		}
		fmt.Printf("%s: %d entries; verified %s\n", l.Name, len(l.Entries), strings.Join(summary, ", "))
	}
	if len(failures) > 0 {
		for _, f := range failures {
			fmt.Fprintln(os.Stderr, "FAIL", f)
		}
		os.Exit(1)
	}
}
