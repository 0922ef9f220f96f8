// gpclient: graphpipe-go's client driven by JSON, for modelpipe's interoperability tests.
//
// Reads one JSON array of calls on stdin, prints one JSON array of results on stdout.
// A call: {"op": "metadata"|"raw"|"native"|"remote", "url", "config", "inputNames",
// "outputNames", "inputs": [tensor]}. A tensor: {"type": wire id, "shape", "data":
// base64 bytes, "strings": [base64]}. "raw" is MultiRemoteRaw; "native" converts the
// inputs to Go slices and calls MultiRemote; "remote" calls Remote with the first one.
// A result: {"outputs": [tensor], "metadata": {...}, "error": "..."}.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/ioutil"
	"net/http"
	"os"

	"github.com/Sirupsen/logrus"
	fb "github.com/google/flatbuffers/go"
	gp "github.com/oracle/graphpipe-go"
	gpfb "github.com/oracle/graphpipe-go/graphpipefb"
)

type tensor struct {
	Type    uint8    `json:"type"`
	Shape   []int64  `json:"shape"`
	Data    []byte   `json:"data"`
	Strings [][]byte `json:"strings,omitempty"`
}

type call struct {
	Op          string   `json:"op"`
	URL         string   `json:"url"`
	Config      string   `json:"config"`
	InputNames  []string `json:"inputNames"`
	OutputNames []string `json:"outputNames"`
	Inputs      []tensor `json:"inputs"`
}

type result struct {
	Outputs  []tensor                   `json:"outputs"`
	Metadata *gp.NativeMetadataResponse `json:"metadata,omitempty"`
	Error    string                     `json:"error,omitempty"`
}

func toNative(t tensor) *gp.NativeTensor {
	nt := &gp.NativeTensor{Type: t.Type, Shape: t.Shape, Data: t.Data}
	if t.Type == gpfb.TypeString {
		nt.Data = nil
		for _, s := range t.Strings {
			nt.StringVals = append(nt.StringVals, string(s))
		}
	}
	return nt
}

func fromNative(nt *gp.NativeTensor) tensor {
	t := tensor{Type: nt.Type, Shape: nt.Shape, Data: nt.Data}
	for _, s := range nt.StringVals {
		t.Strings = append(t.Strings, []byte(s))
	}
	return t
}

func metadata(url string) (*gp.NativeMetadataResponse, error) {
	b := fb.NewBuilder(64)
	gpfb.MetadataRequestStart(b)
	mr := gpfb.MetadataRequestEnd(b)
	gpfb.RequestStart(b)
	gpfb.RequestAddReqType(b, gpfb.ReqMetadataRequest)
	gpfb.RequestAddReq(b, mr)
	rs, err := http.Post(url, "application/octet-stream", bytes.NewReader(gp.Serialize(b, gpfb.RequestEnd(b))))
	if err != nil {
		return nil, err
	}
	defer rs.Body.Close()
	body, err := ioutil.ReadAll(rs.Body)
	if err != nil {
		return nil, err
	}
	if rs.StatusCode != 200 {
		return nil, fmt.Errorf("metadata failed with %d: %s", rs.StatusCode, body)
	}
	m := gpfb.GetRootAsMetadataResponse(body, 0)
	md := &gp.NativeMetadataResponse{Name: string(m.Name()), Version: string(m.Version()), Server: string(m.Server()), Description: string(m.Description())}
	io := func(get func(*gpfb.IOMetadata, int) bool, n int) []gp.NativeIOMetadata {
		var out []gp.NativeIOMetadata
		for i := 0; i < n; i++ {
			x := &gpfb.IOMetadata{}
			get(x, i)
			shape := make([]int64, x.ShapeLength())
			for j := range shape {
				shape[j] = x.Shape(j)
			}
			out = append(out, gp.NativeIOMetadata{Name: string(x.Name()), Description: string(x.Description()), Shape: shape, Type: x.Type()})
		}
		return out
	}
	md.Inputs = io(m.Inputs, m.InputsLength())
	md.Outputs = io(m.Outputs, m.OutputsLength())
	return md, nil
}

func run(c call) (res result) {
	defer func() {
		if r := recover(); r != nil {
			res = result{Error: fmt.Sprintf("panic: %v", r)}
		}
	}()
	var outs []*gp.NativeTensor
	var err error
	switch c.Op {
	case "metadata":
		res.Metadata, err = metadata(c.URL)
	case "raw":
		ins := make([]*gp.NativeTensor, len(c.Inputs))
		for i, t := range c.Inputs {
			ins[i] = toNative(t)
		}
		outs, err = gp.MultiRemoteRaw(http.DefaultClient, c.URL, c.Config, ins, c.InputNames, c.OutputNames)
	case "native", "remote":
		ins := make([]interface{}, len(c.Inputs))
		for i, t := range c.Inputs {
			if ins[i], err = gp.NativeTensorToNative(toNative(t)); err != nil {
				return result{Error: "converting input: " + err.Error()}
			}
		}
		var natives []interface{}
		if c.Op == "remote" {
			var one interface{}
			one, err = gp.Remote(c.URL, ins[0])
			natives = []interface{}{one}
		} else {
			natives, err = gp.MultiRemote(http.DefaultClient, c.URL, c.Config, ins, c.InputNames, c.OutputNames)
		}
		if err == nil {
			for _, n := range natives {
				nt := &gp.NativeTensor{}
				if err = nt.InitSimple(n); err != nil {
					break
				}
				outs = append(outs, nt)
			}
		}
	default:
		err = fmt.Errorf("unknown op %q", c.Op)
	}
	if err != nil {
		return result{Error: err.Error()}
	}
	for _, o := range outs {
		res.Outputs = append(res.Outputs, fromNative(o))
	}
	return res
}

func main() {
	logrus.SetLevel(logrus.FatalLevel)
	var calls []call
	if err := json.NewDecoder(os.Stdin).Decode(&calls); err != nil {
		fmt.Fprintln(os.Stderr, "gpclient: bad input:", err)
		os.Exit(2)
	}
	results := make([]result, len(calls))
	for i, c := range calls {
		results[i] = run(c)
	}
	if err := json.NewEncoder(os.Stdout).Encode(results); err != nil {
		fmt.Fprintln(os.Stderr, "gpclient:", err)
		os.Exit(1)
	}
}
