package cache

import (
	"crypto/sha256"
	"encoding/hex"
	"reflect"
	"sort"
	"strconv"
	"strings"
)

// digestVersion starts every encoding that Digest hashes: a change of the
// encoding itself changes it, and so every digest.
const digestVersion = "datakit-ci-step-inputs/1\n"

// DigestLen is the length of a Digest: 12 hexadecimal digits (48 bits).
const DigestLen = 12

// Digest is a short digest of what decides a step's result (its command,
// environment, build options...), for its result branch's name, so that a
// step whose inputs changed does not find the result of the old ones: the
// first DigestLen hexadecimal digits of the SHA-256 of a canonical,
// versioned encoding of inputs. The same inputs give the same digest in
// every process and version of the CI (until the encoding's version
// changes), so an unchanged step still finds its result after a restart.
//
// inputs is usually a struct of the step's inputs. The encoding is
// canonical: strings are quoted (strconv.Quote), map entries sorted by
// key, struct fields named, and a struct field with its zero value left
// out, so that adding a field to such a struct keeps the digests of the
// steps that leave it unset. Strings, booleans, numbers, slices, arrays,
// maps, structs, pointers and interfaces holding them are encoded by
// value; anything else (a function, a channel) by its type alone. Only
// exported struct fields count.
//
// A secret among the inputs is in the name only through the digest, which
// does not reveal it (unless it is short enough to guess: mask, do not
// rely on the digest to hide a password).
func Digest(inputs any) string {
	sum := sha256.Sum256([]byte(digestVersion + encode(inputs)))
	return hex.EncodeToString(sum[:])[:DigestLen]
}

// encode is the canonical encoding of v.
func encode(v any) string {
	var b strings.Builder
	encodeValue(&b, reflect.ValueOf(v))
	return b.String()
}

func encodeValue(b *strings.Builder, v reflect.Value) {
	if !v.IsValid() {
		b.WriteString("null")
		return
	}
	switch v.Kind() {
	case reflect.String:
		b.WriteString(strconv.Quote(v.String()))
	case reflect.Bool:
		b.WriteString(strconv.FormatBool(v.Bool()))
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		b.WriteString(strconv.FormatInt(v.Int(), 10))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		b.WriteString(strconv.FormatUint(v.Uint(), 10))
	case reflect.Float32, reflect.Float64:
		b.WriteString(strconv.FormatFloat(v.Float(), 'g', -1, 64))
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			b.WriteString("null")
			return
		}
		encodeValue(b, v.Elem())
	case reflect.Slice, reflect.Array:
		if v.Kind() == reflect.Slice && v.IsNil() {
			b.WriteString("null")
			return
		}
		b.WriteByte('[')
		for i := 0; i < v.Len(); i++ {
			if i > 0 {
				b.WriteByte(',')
			}
			encodeValue(b, v.Index(i))
		}
		b.WriteByte(']')
	case reflect.Map:
		if v.IsNil() {
			b.WriteString("null")
			return
		}
		entries := make([][2]string, 0, v.Len())
		for it := v.MapRange(); it.Next(); {
			entries = append(entries, [2]string{encode(it.Key().Interface()), encode(it.Value().Interface())})
		}
		sort.Slice(entries, func(i, j int) bool { return entries[i][0] < entries[j][0] })
		b.WriteByte('{')
		for i, e := range entries {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(e[0] + ":" + e[1])
		}
		b.WriteByte('}')
	case reflect.Struct:
		// Fields by name, unquoted (identifiers), so a struct never reads
		// as a map, whose keys are encoded values.
		b.WriteByte('(')
		first := true
		for i := 0; i < v.NumField(); i++ {
			f := v.Type().Field(i)
			if !f.IsExported() || v.Field(i).IsZero() {
				continue
			}
			if !first {
				b.WriteByte(',')
			}
			first = false
			b.WriteString(f.Name + "=")
			encodeValue(b, v.Field(i))
		}
		b.WriteByte(')')
	default:
		b.WriteString("<" + v.Type().String() + ">")
	}
}
