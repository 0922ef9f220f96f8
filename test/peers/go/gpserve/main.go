// gpserve: graphpipe-go servers for modelpipe's interoperability tests.
//
//	gpserve MODE
//
// Picks a free loopback port, prints "listening 127.0.0.1:PORT", then serves MODE:
//
//	double   gp.Serve, float32 [][]: x*2            (the article's first stage)
//	plus1    gp.Serve, float32 [][]: x+1            (the article's second stage)
//	two      gp.Serve, float32 [][]: outputs x and -x (two outputs)
//	echo     gp.ServeRaw with exact metadata: inputs in0..in3 (any dtype and shape),
//	         outputs out0..out3 and config; outK is inK, as named in the request, and
//	         config is the request's config string
package main

import (
	"fmt"
	"net"
	"os"
	"strconv"

	"github.com/Sirupsen/logrus"
	gp "github.com/oracle/graphpipe-go"
)

func freePort() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func mapF(x [][]float32, f func(float32) float32) [][]float32 {
	out := make([][]float32, len(x))
	for i, row := range x {
		out[i] = make([]float32, len(row))
		for j, v := range row {
			out[i][j] = f(v)
		}
	}
	return out
}

func echo(_ *gp.RequestContext, config string, in map[string]*gp.NativeTensor, outs []string) ([]*gp.NativeTensor, error) {
	res := make([]*gp.NativeTensor, len(outs))
	for i, name := range outs {
		if name == "config" {
			res[i] = &gp.NativeTensor{Type: 12, Shape: []int64{1}, StringVals: []string{config}}
			continue
		}
		t, ok := in["in"+name[len(name)-1:]]
		if len(name) != 4 || name[:3] != "out" || !ok {
			return nil, fmt.Errorf("no input for output %q", name)
		}
		res[i] = t
	}
	return res, nil
}

func echoMeta() *gp.NativeMetadataResponse {
	md := &gp.NativeMetadataResponse{Name: "echo", Version: "1", Server: "graphpipe-go", Description: "raw echo"}
	for i := 0; i < 4; i++ {
		k := strconv.Itoa(i)
		md.Inputs = append(md.Inputs, gp.NativeIOMetadata{Name: "in" + k, Shape: []int64{-1, -1}, Type: 10})
		md.Outputs = append(md.Outputs, gp.NativeIOMetadata{Name: "out" + k, Shape: []int64{-1, -1}, Type: 10})
	}
	md.Outputs = append(md.Outputs, gp.NativeIOMetadata{Name: "config", Shape: []int64{1}, Type: 12})
	return md
}

func main() {
	logrus.SetLevel(logrus.WarnLevel)
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: gpserve double|plus1|two|echo")
		os.Exit(2)
	}
	addr := freePort()
	fmt.Printf("listening %s\n", addr)
	var err error
	switch os.Args[1] {
	case "double":
		err = gp.Serve(addr, false, func(_ *gp.RequestContext, _ string, x [][]float32) [][]float32 {
			return mapF(x, func(v float32) float32 { return v * 2 })
		}, nil, nil)
	case "plus1":
		err = gp.Serve(addr, false, func(_ *gp.RequestContext, _ string, x [][]float32) [][]float32 {
			return mapF(x, func(v float32) float32 { return v + 1 })
		}, nil, nil)
	case "two":
		err = gp.Serve(addr, false, func(_ *gp.RequestContext, _ string, x [][]float32) ([][]float32, [][]float32) {
			return x, mapF(x, func(v float32) float32 { return -v })
		}, nil, nil)
	case "echo":
		err = gp.ServeRaw(&gp.ServeRawOptions{
			Listen: addr, Meta: echoMeta(), Apply: echo,
			DefaultInputs: []string{"in0"}, DefaultOutputs: []string{"out0"},
		})
	default:
		err = fmt.Errorf("unknown mode %q", os.Args[1])
	}
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}
