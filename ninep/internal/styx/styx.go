// Package styx encodes and decodes the messages of 9P2000 (Plan 9's file
// protocol, called Styx in Inferno) and of its Unix extension 9P2000.u,
// which the original DataKit spoke and its clients still speak: the
// kernel's v9fs with version=9p2000.u or version=9p2000, and the Go
// bindings over docker/go-p9p. (9P2000.L, which package ninep serves
// through hugelgupf/p9, is another dialect with other messages.)
//
// The codec is a table: each message type lists its fields in wire order
// (layouts), and one encoder and one decoder walk that list. Fields that
// exist only in 9P2000.u are marked there and skipped for Plain. Decoding
// is strict: a message decodes only if re-encoding it gives the same
// bytes, which the fuzz targets check.
//
// The functions are safe for concurrent use; a Msg is a plain value.
package styx

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// Dialect is the protocol version agreed by Tversion.
type Dialect uint8

const (
	Plain Dialect = iota // 9P2000
	Unix                 // 9P2000.u
)

// Version strings on the wire.
const (
	VersionPlain = "9P2000"
	VersionUnix  = "9P2000.u"
)

func (d Dialect) String() string {
	if d == Unix {
		return VersionUnix
	}
	return VersionPlain
}

// Message types.
const (
	Tversion = 100 + iota
	Rversion
	Tauth
	Rauth
	Tattach
	Rattach
	Terror // never sent
	Rerror
	Tflush
	Rflush
	Twalk
	Rwalk
	Topen
	Ropen
	Tcreate
	Rcreate
	Tread
	Rread
	Twrite
	Rwrite
	Tclunk
	Rclunk
	Tremove
	Rremove
	Tstat
	Rstat
	Twstat
	Rwstat
)

// Special values.
const (
	NoTag   uint16 = math.MaxUint16
	NoFid   uint32 = math.MaxUint32
	MaxWalk        = 16 // names in a Twalk, qids in an Rwalk

	// HeaderSize is size[4] type[1] tag[2].
	HeaderSize = 7
	// IOHeader is what an Rread or Twrite adds to its data.
	IOHeader = HeaderSize + 4 + 8 + 4
)

// Open modes (Topen, Tcreate).
const (
	OREAD   = 0
	OWRITE  = 1
	ORDWR   = 2
	OEXEC   = 3
	OTRUNC  = 0x10
	ORCLOSE = 0x40
)

// Permission and mode bits (Tcreate's perm, a Stat's mode).
const (
	DMDIR       = 0x80000000
	DMAPPEND    = 0x40000000
	DMEXCL      = 0x20000000
	DMAUTH      = 0x08000000
	DMTMP       = 0x04000000
	DMSYMLINK   = 0x02000000 // 9P2000.u
	DMLINK      = 0x01000000 // 9P2000.u
	DMDEVICE    = 0x00800000 // 9P2000.u
	DMNAMEDPIPE = 0x00200000 // 9P2000.u
	DMSOCKET    = 0x00100000 // 9P2000.u
	DMSETUID    = 0x00080000 // 9P2000.u
	DMSETGID    = 0x00040000 // 9P2000.u
)

// Qid types.
const (
	QTDIR     = 0x80
	QTAPPEND  = 0x40
	QTEXCL    = 0x20
	QTAUTH    = 0x08
	QTTMP     = 0x04
	QTSYMLINK = 0x02 // 9P2000.u
	QTFILE    = 0
)

// Qid is the server's identity of a file.
type Qid struct {
	Type    uint8
	Version uint32
	Path    uint64
}

// Stat is a directory entry: what Rstat returns, Twstat changes, and a
// directory's read gives one after the other. The last four fields are
// 9P2000.u's.
type Stat struct {
	Type         uint16
	Dev          uint32
	Qid          Qid
	Mode         uint32
	Atime, Mtime uint32
	Length       uint64
	Name         string
	UID, GID     string
	MUID         string

	Extension         string // 9P2000.u: a symlink's target, a device's numbers
	NUID, NGID, NMUID uint32 // 9P2000.u
}

// Twstat's "don't touch" values: a field with every bit set, or an empty
// string, keeps its value.
const (
	NoTouch32 = math.MaxUint32
	NoTouch64 = math.MaxUint64
)

// Msg is any message: Type says which fields are used (see layouts).
type Msg struct {
	Type uint8
	Tag  uint16

	Fid, Newfid, Afid uint32
	Msize             uint32
	Version           string
	Uname, Aname      string
	NUname            uint32 // 9P2000.u: the numeric user of Tauth and Tattach
	Ename             string
	Errno             uint32 // 9P2000.u: Rerror's error number
	Oldtag            uint16
	Wnames            []string
	Qids              []Qid
	Qid               Qid
	Iounit            uint32
	Mode              uint8
	Name              string
	Perm              uint32
	Extension         string // 9P2000.u: Tcreate's symlink target or device
	Offset            uint64
	Count             uint32
	Data              []byte
	Stat              Stat
}

// field is one entry of a message's layout.
type field uint8

const (
	fFid field = iota
	fNewfid
	fAfid
	fMsize
	fVersion
	fUname
	fAname
	fNUname // .u
	fEname
	fErrno // .u
	fOldtag
	fWnames
	fQids
	fQid
	fIounit
	fMode
	fName
	fPerm
	fExtension // .u
	fOffset
	fCount
	fData
	fStat
)

// unixOnly marks the fields that 9P2000.u adds.
func (f field) unixOnly() bool { return f == fNUname || f == fErrno || f == fExtension }

// layouts lists each message's fields in wire order, by type.
var layouts = map[uint8]struct {
	name   string
	fields []field
}{
	Tversion: {"Tversion", []field{fMsize, fVersion}},
	Rversion: {"Rversion", []field{fMsize, fVersion}},
	Tauth:    {"Tauth", []field{fAfid, fUname, fAname, fNUname}},
	Rauth:    {"Rauth", []field{fQid}},
	Tattach:  {"Tattach", []field{fFid, fAfid, fUname, fAname, fNUname}},
	Rattach:  {"Rattach", []field{fQid}},
	Rerror:   {"Rerror", []field{fEname, fErrno}},
	Tflush:   {"Tflush", []field{fOldtag}},
	Rflush:   {"Rflush", nil},
	Twalk:    {"Twalk", []field{fFid, fNewfid, fWnames}},
	Rwalk:    {"Rwalk", []field{fQids}},
	Topen:    {"Topen", []field{fFid, fMode}},
	Ropen:    {"Ropen", []field{fQid, fIounit}},
	Tcreate:  {"Tcreate", []field{fFid, fName, fPerm, fMode, fExtension}},
	Rcreate:  {"Rcreate", []field{fQid, fIounit}},
	Tread:    {"Tread", []field{fFid, fOffset, fCount}},
	Rread:    {"Rread", []field{fData}},
	Twrite:   {"Twrite", []field{fFid, fOffset, fData}},
	Rwrite:   {"Rwrite", []field{fCount}},
	Tclunk:   {"Tclunk", []field{fFid}},
	Rclunk:   {"Rclunk", nil},
	Tremove:  {"Tremove", []field{fFid}},
	Rremove:  {"Rremove", nil},
	Tstat:    {"Tstat", []field{fFid}},
	Rstat:    {"Rstat", []field{fStat}},
	Twstat:   {"Twstat", []field{fFid, fStat}},
	Rwstat:   {"Rwstat", nil},
}

// TypeName returns the name of a message type ("Twalk"), or "type N".
func TypeName(t uint8) string {
	if l, ok := layouts[t]; ok {
		return l.name
	}
	return fmt.Sprintf("type %d", t)
}

// Errors of Decode and Append.
var (
	ErrShort   = errors.New("styx: message too short")
	ErrLong    = errors.New("styx: bytes after the message's fields")
	ErrType    = errors.New("styx: unknown message type")
	ErrTooMany = errors.New("styx: more than 16 walk elements")
	ErrBig     = errors.New("styx: field too large")
)

// Append encodes m in dialect d after b.
func Append(d Dialect, b []byte, m *Msg) ([]byte, error) {
	l, ok := layouts[m.Type]
	if !ok {
		return b, ErrType
	}
	start := len(b)
	b = append(b, 0, 0, 0, 0, m.Type)
	b = binary.LittleEndian.AppendUint16(b, m.Tag)
	var err error
	for _, f := range l.fields {
		if f.unixOnly() && d != Unix {
			continue
		}
		if b, err = m.put(d, b, f); err != nil {
			return b[:start], err
		}
	}
	if uint64(len(b)-start) > math.MaxUint32 {
		return b[:start], ErrBig
	}
	binary.LittleEndian.PutUint32(b[start:], uint32(len(b)-start))
	return b, nil
}

func (m *Msg) put(d Dialect, b []byte, f field) ([]byte, error) {
	var err error
	switch f {
	case fFid:
		b = le32(b, m.Fid)
	case fNewfid:
		b = le32(b, m.Newfid)
	case fAfid:
		b = le32(b, m.Afid)
	case fMsize:
		b = le32(b, m.Msize)
	case fNUname:
		b = le32(b, m.NUname)
	case fErrno:
		b = le32(b, m.Errno)
	case fIounit:
		b = le32(b, m.Iounit)
	case fPerm:
		b = le32(b, m.Perm)
	case fCount:
		b = le32(b, m.Count)
	case fOldtag:
		b = binary.LittleEndian.AppendUint16(b, m.Oldtag)
	case fMode:
		b = append(b, m.Mode)
	case fOffset:
		b = binary.LittleEndian.AppendUint64(b, m.Offset)
	case fVersion:
		b, err = putString(b, m.Version)
	case fUname:
		b, err = putString(b, m.Uname)
	case fAname:
		b, err = putString(b, m.Aname)
	case fEname:
		b, err = putString(b, m.Ename)
	case fName:
		b, err = putString(b, m.Name)
	case fExtension:
		b, err = putString(b, m.Extension)
	case fQid:
		b = putQid(b, m.Qid)
	case fWnames:
		if len(m.Wnames) > MaxWalk {
			return b, ErrTooMany
		}
		b = binary.LittleEndian.AppendUint16(b, uint16(len(m.Wnames)))
		for _, n := range m.Wnames {
			if b, err = putString(b, n); err != nil {
				return b, err
			}
		}
	case fQids:
		if len(m.Qids) > MaxWalk {
			return b, ErrTooMany
		}
		b = binary.LittleEndian.AppendUint16(b, uint16(len(m.Qids)))
		for _, q := range m.Qids {
			b = putQid(b, q)
		}
	case fData:
		if uint64(len(m.Data)) > math.MaxUint32 {
			return b, ErrBig
		}
		b = le32(b, uint32(len(m.Data)))
		b = append(b, m.Data...)
	case fStat:
		// stat[n]: a count, then the entry, which starts with its own size.
		at := len(b)
		b = append(b, 0, 0)
		if b, err = AppendStat(d, b, &m.Stat); err != nil {
			return b, err
		}
		n := len(b) - at - 2
		if n > math.MaxUint16 {
			return b, ErrBig
		}
		binary.LittleEndian.PutUint16(b[at:], uint16(n))
	}
	return b, err
}

// Decode decodes one whole message (size prefix included) in dialect d.
// The message's strings and data are copies: msg may be reused.
func Decode(d Dialect, msg []byte) (*Msg, error) {
	if len(msg) < HeaderSize {
		return nil, ErrShort
	}
	if binary.LittleEndian.Uint32(msg) != uint32(len(msg)) {
		return nil, fmt.Errorf("styx: size %d for a message of %d bytes", binary.LittleEndian.Uint32(msg), len(msg))
	}
	m := &Msg{Type: msg[4], Tag: binary.LittleEndian.Uint16(msg[5:])}
	l, ok := layouts[m.Type]
	if !ok {
		return m, ErrType
	}
	r := reader{b: msg[HeaderSize:]}
	for _, f := range l.fields {
		if f.unixOnly() && d != Unix {
			continue
		}
		m.get(d, &r, f)
	}
	if r.err != nil {
		return m, fmt.Errorf("%s: %w", l.name, r.err)
	}
	if len(r.b) != 0 {
		return m, fmt.Errorf("%s: %w", l.name, ErrLong)
	}
	return m, nil
}

func (m *Msg) get(d Dialect, r *reader, f field) {
	switch f {
	case fFid:
		m.Fid = r.u32()
	case fNewfid:
		m.Newfid = r.u32()
	case fAfid:
		m.Afid = r.u32()
	case fMsize:
		m.Msize = r.u32()
	case fNUname:
		m.NUname = r.u32()
	case fErrno:
		m.Errno = r.u32()
	case fIounit:
		m.Iounit = r.u32()
	case fPerm:
		m.Perm = r.u32()
	case fCount:
		m.Count = r.u32()
	case fOldtag:
		m.Oldtag = r.u16()
	case fMode:
		m.Mode = r.u8()
	case fOffset:
		m.Offset = r.u64()
	case fVersion:
		m.Version = r.str()
	case fUname:
		m.Uname = r.str()
	case fAname:
		m.Aname = r.str()
	case fEname:
		m.Ename = r.str()
	case fName:
		m.Name = r.str()
	case fExtension:
		m.Extension = r.str()
	case fQid:
		m.Qid = r.qid()
	case fWnames:
		n := r.u16()
		if n > MaxWalk {
			r.fail(ErrTooMany)
			return
		}
		for i := 0; i < int(n) && r.err == nil; i++ {
			m.Wnames = append(m.Wnames, r.str())
		}
	case fQids:
		n := r.u16()
		if n > MaxWalk {
			r.fail(ErrTooMany)
			return
		}
		for i := 0; i < int(n) && r.err == nil; i++ {
			m.Qids = append(m.Qids, r.qid())
		}
	case fData:
		n := r.u32()
		m.Data = append([]byte{}, r.bytes(int(n))...)
	case fStat:
		n := r.u16()
		st, rest, err := DecodeStat(d, r.bytes(int(n)))
		switch {
		case r.err != nil:
		case err != nil:
			r.fail(err)
		case len(rest) != 0:
			r.fail(ErrLong)
		}
		m.Stat = st
	}
}

// AppendStat encodes a directory entry (size[2] first) after b.
func AppendStat(d Dialect, b []byte, s *Stat) ([]byte, error) {
	at := len(b)
	b = append(b, 0, 0)
	b = binary.LittleEndian.AppendUint16(b, s.Type)
	b = le32(b, s.Dev)
	b = putQid(b, s.Qid)
	b = le32(b, s.Mode)
	b = le32(b, s.Atime)
	b = le32(b, s.Mtime)
	b = binary.LittleEndian.AppendUint64(b, s.Length)
	var err error
	for _, str := range []string{s.Name, s.UID, s.GID, s.MUID} {
		if b, err = putString(b, str); err != nil {
			return b[:at], err
		}
	}
	if d == Unix {
		if b, err = putString(b, s.Extension); err != nil {
			return b[:at], err
		}
		b = le32(b, s.NUID)
		b = le32(b, s.NGID)
		b = le32(b, s.NMUID)
	}
	n := len(b) - at - 2
	if n > math.MaxUint16 {
		return b[:at], ErrBig
	}
	binary.LittleEndian.PutUint16(b[at:], uint16(n))
	return b, nil
}

// DecodeStat decodes the directory entry at the start of b and returns
// the bytes after it (a directory's read holds entries one after the
// other).
func DecodeStat(d Dialect, b []byte) (Stat, []byte, error) {
	var s Stat
	top := reader{b: b}
	size := top.u16()
	r := reader{b: top.bytes(int(size))}
	if top.err != nil {
		return s, b, fmt.Errorf("stat: %w", top.err)
	}
	s.Type = r.u16()
	s.Dev = r.u32()
	s.Qid = r.qid()
	s.Mode = r.u32()
	s.Atime = r.u32()
	s.Mtime = r.u32()
	s.Length = r.u64()
	s.Name = r.str()
	s.UID = r.str()
	s.GID = r.str()
	s.MUID = r.str()
	if d == Unix {
		s.Extension = r.str()
		s.NUID = r.u32()
		s.NGID = r.u32()
		s.NMUID = r.u32()
	}
	if r.err != nil {
		return s, b, fmt.Errorf("stat: %w", r.err)
	}
	if len(r.b) != 0 {
		return s, b, fmt.Errorf("stat: %w", ErrLong)
	}
	return s, top.b, nil
}

// ReadMsg reads one message from r: at most max bytes, at least the
// header. The slice is new.
func ReadMsg(r io.Reader, max uint32) ([]byte, error) {
	var size [4]byte
	if _, err := io.ReadFull(r, size[:]); err != nil {
		return nil, err
	}
	n := binary.LittleEndian.Uint32(size[:])
	if n < HeaderSize || n > max {
		return nil, fmt.Errorf("styx: message size %d (want %d to %d)", n, HeaderSize, max)
	}
	m := make([]byte, n)
	copy(m, size[:])
	if _, err := io.ReadFull(r, m[4:]); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return m, nil
}

func le32(b []byte, v uint32) []byte { return binary.LittleEndian.AppendUint32(b, v) }

func putString(b []byte, s string) ([]byte, error) {
	if len(s) > math.MaxUint16 {
		return b, ErrBig
	}
	b = binary.LittleEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...), nil
}

func putQid(b []byte, q Qid) []byte {
	b = append(b, q.Type)
	b = le32(b, q.Version)
	return binary.LittleEndian.AppendUint64(b, q.Path)
}

// reader takes fields off the front of b; after the first shortage it
// returns zeros and keeps the error.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
	r.b = nil
}

func (r *reader) bytes(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b) {
		r.fail(ErrShort)
		return nil
	}
	out := r.b[:n:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) u8() uint8 {
	if b := r.bytes(1); b != nil {
		return b[0]
	}
	return 0
}

func (r *reader) u16() uint16 {
	if b := r.bytes(2); b != nil {
		return binary.LittleEndian.Uint16(b)
	}
	return 0
}

func (r *reader) u32() uint32 {
	if b := r.bytes(4); b != nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}

func (r *reader) u64() uint64 {
	if b := r.bytes(8); b != nil {
		return binary.LittleEndian.Uint64(b)
	}
	return 0
}

func (r *reader) str() string { return string(r.bytes(int(r.u16()))) }

func (r *reader) qid() Qid {
	return Qid{Type: r.u8(), Version: r.u32(), Path: r.u64()}
}
