// cty-interop: go-cty's own msgpack and JSON codecs, for test/terraform-values.test.ts to compare
// plugsock's TypeScript codec with, byte for byte.
//
//	cty-interop fixtures   prints [{name, type, msgpack}] for values built here with go-cty
//	cty-interop reencode   reads [{type, msgpack} | {type, json}] on stdin; for each, decodes it
//	                       with go-cty and prints {msgpack} (go-cty's encoding) or {error}
//
// Types are cty's JSON form; msgpack is hex.
package main

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strings"

	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"
	ctymsgpack "github.com/zclconf/go-cty/cty/msgpack"
)

type fixture struct {
	Name    string `json:"name"`
	Type    string `json:"type"`
	Msgpack string `json:"msgpack"`
}

type request struct {
	Type    json.RawMessage `json:"type"`
	Msgpack *string         `json:"msgpack,omitempty"`
	JSON    *string         `json:"json,omitempty"`
}

type reply struct {
	Msgpack string `json:"msgpack,omitempty"`
	Error   string `json:"error,omitempty"`
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: cty-interop fixtures|reencode")
		os.Exit(2)
	}
	var out any
	switch os.Args[1] {
	case "fixtures":
		out = fixtures()
	case "reencode":
		var reqs []request
		if err := json.NewDecoder(os.Stdin).Decode(&reqs); err != nil {
			fmt.Fprintln(os.Stderr, "reading requests:", err)
			os.Exit(1)
		}
		replies := make([]reply, len(reqs))
		for i, r := range reqs {
			replies[i] = reencode(r)
		}
		out = replies
	default:
		fmt.Fprintln(os.Stderr, "unknown mode", os.Args[1])
		os.Exit(2)
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func reencode(r request) reply {
	var ty cty.Type
	if err := ty.UnmarshalJSON(r.Type); err != nil {
		return reply{Error: "type: " + err.Error()}
	}
	var val cty.Value
	var err error
	if r.Msgpack != nil {
		b, herr := hex.DecodeString(*r.Msgpack)
		if herr != nil {
			return reply{Error: herr.Error()}
		}
		val, err = ctymsgpack.Unmarshal(b, ty)
	} else if r.JSON != nil {
		val, err = ctyjson.Unmarshal([]byte(*r.JSON), ty)
	} else {
		return reply{Error: "neither msgpack nor json"}
	}
	if err != nil {
		return reply{Error: err.Error()}
	}
	b, err := ctymsgpack.Marshal(val, ty)
	if err != nil {
		return reply{Error: "marshal: " + err.Error()}
	}
	return reply{Msgpack: hex.EncodeToString(b)}
}

// Each fixture's name matches a value in the TypeScript test's table.
func fixtures() []fixture {
	str := cty.StringVal
	num := cty.NumberIntVal
	obj := cty.ObjectVal
	refinedString := cty.UnknownVal(cty.String).Refine().NotNull().StringPrefixFull("ami-").NewValue()
	refinedNumber := cty.UnknownVal(cty.Number).Refine().NumberRangeLowerBound(cty.NumberIntVal(1), true).
		NumberRangeUpperBound(cty.NumberFloatVal(10.5), false).NewValue()
	refinedList := cty.UnknownVal(cty.List(cty.String)).Refine().NotNull().CollectionLengthLowerBound(1).
		CollectionLengthUpperBound(3).NewValue()
	tagsTy := cty.Map(cty.String)
	ruleTy := cty.Object(map[string]cty.Type{"port": cty.Number, "cidr": cty.String})
	optTy := cty.ObjectWithOptionalAttrs(map[string]cty.Type{"a": cty.String, "b": cty.Number}, []string{"b"})

	cases := []struct {
		name string
		val  cty.Value
		ty   cty.Type
	}{
		{"null string", cty.NullVal(cty.String), cty.String},
		{"unknown string", cty.UnknownVal(cty.String), cty.String},
		{"empty string", str(""), cty.String},
		{"ascii string", str("hello"), cty.String},
		{"string 31", str(strings.Repeat("a", 31)), cty.String},
		{"string 32", str(strings.Repeat("b", 32)), cty.String},
		{"string 256", str(strings.Repeat("c", 256)), cty.String},
		{"string 70000", str(strings.Repeat("d", 70000)), cty.String},
		{"unicode string", str("héllo wörld ✓ 𝄞"), cty.String},
		{"nfc string", str("e\u0301"), cty.String},
		{"true", cty.True, cty.Bool},
		{"false", cty.False, cty.Bool},
		{"zero", num(0), cty.Number},
		{"127", num(127), cty.Number},
		{"128", num(128), cty.Number},
		{"255", num(255), cty.Number},
		{"256", num(256), cty.Number},
		{"65535", num(65535), cty.Number},
		{"65536", num(65536), cty.Number},
		{"2^32", num(1 << 32), cty.Number},
		{"-1", num(-1), cty.Number},
		{"-32", num(-32), cty.Number},
		{"-33", num(-33), cty.Number},
		{"-128", num(-128), cty.Number},
		{"-129", num(-129), cty.Number},
		{"-32768", num(-32768), cty.Number},
		{"-32769", num(-32769), cty.Number},
		{"-2^31-1", num(-(1 << 31) - 1), cty.Number},
		{"2^53+2", num(1<<53 + 2), cty.Number},
		{"-2^63", num(math.MinInt64), cty.Number},
		{"2^63", cty.NumberFloatVal(math.Pow(2, 63)), cty.Number},
		{"-1e300", cty.NumberFloatVal(-1e300), cty.Number},
		{"1e21", cty.NumberFloatVal(1e21), cty.Number},
		{"1.5", cty.NumberFloatVal(1.5), cty.Number},
		{"-0.1", cty.NumberFloatVal(-0.1), cty.Number},
		{"+inf", cty.PositiveInfinity, cty.Number},
		{"-inf", cty.NegativeInfinity, cty.Number},
		{"refined string", refinedString, cty.String},
		{"refined number", refinedNumber, cty.Number},
		{"refined list", refinedList, cty.List(cty.String)},
		{"not-null object", cty.UnknownVal(ruleTy).Refine().NotNull().NewValue(), ruleTy},
		{"list", cty.ListVal([]cty.Value{str("a"), cty.UnknownVal(cty.String), cty.NullVal(cty.String)}), cty.List(cty.String)},
		{"empty list", cty.ListValEmpty(cty.Number), cty.List(cty.Number)},
		{"set of strings", cty.SetVal([]cty.Value{str("b"), str("a"), str("é"), str("Z"), cty.UnknownVal(cty.String), str("a")}), cty.Set(cty.String)},
		{"set of numbers", cty.SetVal([]cty.Value{num(10), num(9), cty.NumberFloatVal(-1.5), num(100)}), cty.Set(cty.Number)},
		{"set of bools", cty.SetVal([]cty.Value{cty.True, cty.False}), cty.Set(cty.Bool)},
		{"set of objects", cty.SetVal([]cty.Value{
			obj(map[string]cty.Value{"port": num(443), "cidr": str("10.0.0.0/8")}),
			obj(map[string]cty.Value{"port": num(80), "cidr": str("0.0.0.0/0")}),
			obj(map[string]cty.Value{"port": num(22), "cidr": cty.UnknownVal(cty.String)}),
			obj(map[string]cty.Value{"port": cty.NumberFloatVal(1.25e12), "cidr": cty.NullVal(cty.String)}),
		}), cty.Set(ruleTy)},
		{"set of sets", cty.SetVal([]cty.Value{
			cty.SetVal([]cty.Value{num(3), num(20)}),
			cty.SetVal([]cty.Value{num(1)}),
			cty.SetValEmpty(cty.Number),
		}), cty.Set(cty.Set(cty.Number))},
		{"set of lists", cty.SetVal([]cty.Value{
			cty.ListVal([]cty.Value{str("tab\there"), str("quote\"")}),
			cty.ListVal([]cty.Value{str("ünï"), str("\u00a0nbsp")}),
			cty.ListVal([]cty.Value{str("a<b>&c")}),
		}), cty.Set(cty.List(cty.String))},
		{"map", cty.MapVal(map[string]cty.Value{"b": str("2"), "a": str("1"), "é": str("3"), "Z": cty.UnknownVal(cty.String)}), tagsTy},
		{"empty map", cty.MapValEmpty(cty.String), tagsTy},
		{"tuple", cty.TupleVal([]cty.Value{str("x"), num(2), cty.True}), cty.Tuple([]cty.Type{cty.String, cty.Number, cty.Bool})},
		{"empty tuple", cty.EmptyTupleVal, cty.EmptyTuple},
		{"object", obj(map[string]cty.Value{
			"name":  str("web"),
			"tags":  cty.MapVal(map[string]cty.Value{"env": str("prod")}),
			"id":    cty.UnknownVal(cty.String),
			"rules": cty.ListVal([]cty.Value{obj(map[string]cty.Value{"port": num(443), "cidr": cty.NullVal(cty.String)})}),
		}), cty.Object(map[string]cty.Type{"name": cty.String, "tags": tagsTy, "id": cty.String, "rules": cty.List(ruleTy)})},
		{"optional attrs", obj(map[string]cty.Value{"a": str("x"), "b": cty.NullVal(cty.Number)}), optTy},
		{"dynamic string", str("dyn"), cty.DynamicPseudoType},
		{"dynamic null", cty.NullVal(cty.DynamicPseudoType), cty.DynamicPseudoType},
		{"dynamic typed null", cty.NullVal(cty.String), cty.DynamicPseudoType},
		{"dynamic unknown", cty.DynamicVal, cty.DynamicPseudoType},
		{"dynamic typed unknown", cty.UnknownVal(cty.Number), cty.DynamicPseudoType},
		{"dynamic object", obj(map[string]cty.Value{"x": cty.ListVal([]cty.Value{num(1)}), "y<&>": cty.True}), cty.DynamicPseudoType},
		{"object with dynamic", obj(map[string]cty.Value{"v": cty.TupleVal([]cty.Value{str("a"), num(1)}), "n": num(1)}),
			cty.Object(map[string]cty.Type{"v": cty.DynamicPseudoType, "n": cty.Number})},
		{"deep unknowns", cty.ListVal([]cty.Value{cty.MapVal(map[string]cty.Value{"k": cty.SetVal([]cty.Value{cty.UnknownVal(cty.Number), num(5)})})}),
			cty.List(cty.Map(cty.Set(cty.Number)))},
	}
	out := make([]fixture, 0, len(cases))
	for _, c := range cases {
		b, err := ctymsgpack.Marshal(c.val, c.ty)
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: %s\n", c.name, err)
			os.Exit(1)
		}
		tj, err := c.ty.MarshalJSON()
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: %s\n", c.name, err)
			os.Exit(1)
		}
		out = append(out, fixture{Name: c.name, Type: string(tj), Msgpack: hex.EncodeToString(b)})
	}
	return out
}
