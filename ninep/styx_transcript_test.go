package ninep

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/dkgo/datakit/ninep/internal/styx"
)

// Transcripts in 9P2000 and 9P2000.u: a transcript whose Tversion asks
// for one of them goes on in that dialect, its requests encoded with
// internal/styx from the same key=value words (fid newfid afid msize uid
// oldtag mode offset count perm version uname aname name ext, data as a
// quoted string, Twalk's names as bare words), and its replies written
// as:
//
//	< Rerror 5 "Read-only file" EROFS    (the errno in 9P2000.u only)
//	< Rread 6 "text"
//	< Rwalk 4 nwqid=3
//	< Rwrite 7 count=6
//	< Rstat 8 name=head length=41 mode=664
//	< Rclunk 9                            (the others: name and tag)

// transcriptDialect follows a transcript's dialect: nil for 9P2000.L.
type transcriptDialect struct{ d *styx.Dialect }

// request encodes a request line's words in the transcript's dialect,
// which its Tversion sets.
func (td *transcriptDialect) request(words []string) ([]byte, error) {
	if len(words) > 0 && words[0] == "Tversion" {
		td.d = nil
		for _, w := range words {
			v, ok := strings.CutPrefix(w, "version=")
			if ok && !strings.HasPrefix(v, "9P2000.L") {
				d := styx.Plain
				if v == styx.VersionUnix {
					d = styx.Unix
				}
				td.d = &d
			}
		}
		return encodeT(words)
	}
	if td.d == nil {
		return encodeT(words)
	}
	return encodeStyxT(*td.d, words)
}

// reply writes a reply as a transcript line.
func (td *transcriptDialect) reply(m []byte) string {
	if td.d == nil || (len(m) > 4 && m[4] == styx.Rversion) {
		return formatR(m)
	}
	return formatStyxR(*td.d, m)
}

func encodeStyxT(d styx.Dialect, words []string) ([]byte, error) {
	if len(words) < 2 {
		return nil, fmt.Errorf("want a message name and a tag: %q", words)
	}
	m := &styx.Msg{}
	for t := styx.Tversion; t <= styx.Rwstat; t++ {
		if styx.TypeName(uint8(t)) == words[0] {
			m.Type = uint8(t)
		}
	}
	if m.Type == 0 {
		return nil, fmt.Errorf("unknown request %s", words[0])
	}
	tag, err := strconv.ParseUint(words[1], 10, 16)
	if err != nil {
		return nil, fmt.Errorf("tag: %v", err)
	}
	m.Tag = uint16(tag)
	u32 := map[string]*uint32{"fid": &m.Fid, "newfid": &m.Newfid, "afid": &m.Afid, "msize": &m.Msize,
		"uid": &m.NUname, "perm": &m.Perm, "count": &m.Count}
	strs := map[string]*string{"version": &m.Version, "uname": &m.Uname, "aname": &m.Aname, "name": &m.Name, "ext": &m.Extension}
	for _, w := range words[2:] {
		k, v, ok := strings.Cut(w, "=")
		if !ok {
			m.Wnames = append(m.Wnames, w)
			continue
		}
		var n uint64
		switch {
		case u32[k] != nil:
			n, err = strconv.ParseUint(v, 0, 32)
			*u32[k] = uint32(n)
		case strs[k] != nil:
			*strs[k] = v
		case k == "oldtag":
			n, err = strconv.ParseUint(v, 10, 16)
			m.Oldtag = uint16(n)
		case k == "mode":
			n, err = strconv.ParseUint(v, 0, 8)
			m.Mode = uint8(n)
		case k == "offset":
			m.Offset, err = strconv.ParseUint(v, 10, 64)
		case k == "data":
			var s string
			s, err = strconv.Unquote(v)
			m.Data = []byte(s)
		default:
			err = fmt.Errorf("unknown field")
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %v", words[0], k, err)
		}
	}
	return styx.Append(d, nil, m)
}

func formatStyxR(d styx.Dialect, b []byte) string {
	m, err := styx.Decode(d, b)
	if err != nil {
		return fmt.Sprintf("undecodable %x: %v", b, err)
	}
	s := fmt.Sprintf("%s %d", styx.TypeName(m.Type), m.Tag)
	switch m.Type {
	case styx.Rerror:
		s += " " + strconv.Quote(m.Ename)
		if d == styx.Unix {
			if n, ok := errnoNames[m.Errno]; ok {
				return s + " " + n
			}
			return fmt.Sprintf("%s errno=%d", s, m.Errno)
		}
	case styx.Rread:
		s += " " + strconv.Quote(string(m.Data))
	case styx.Rwalk:
		s += fmt.Sprintf(" nwqid=%d", len(m.Qids))
	case styx.Rwrite:
		s += fmt.Sprintf(" count=%d", m.Count)
	case styx.Rstat:
		s += fmt.Sprintf(" name=%s length=%d mode=%o", m.Stat.Name, m.Stat.Length, m.Stat.Mode)
	}
	return s
}
