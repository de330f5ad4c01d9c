package main

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"os"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// writeChart draws throughput by client count: one group of horizontal bars
// per server, one bar per client count.
func writeChart(path string, rows []Row, clients []int) error {
	type group struct {
		name string
		rps  map[int]float64
	}
	var groups []*group
	idx := map[string]*group{}
	maxRPS := 1.0
	for _, r := range rows {
		g := idx[r.Name()]
		if g == nil {
			g = &group{name: r.Name(), rps: map[int]float64{}}
			idx[r.Name()] = g
			groups = append(groups, g)
		}
		g.rps[r.Clients] = r.RPS
		maxRPS = max(maxRPS, r.RPS)
	}
	const (
		left   = 230
		right  = 90
		top    = 50
		barH   = 9
		gap    = 10
		width  = 1000
		legend = 30
	)
	groupH := len(clients)*barH + gap
	height := top + len(groups)*groupH + legend + 20
	img := image.NewRGBA(image.Rect(0, 0, width, height))
	draw.Draw(img, img.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
	palette := []color.RGBA{{0x9e, 0xc5, 0xe8, 255}, {0x31, 0x82, 0xbd, 255}, {0x08, 0x30, 0x6b, 255}, {0xe6, 0x55, 0x0d, 255}, {0x31, 0xa3, 0x54, 255}}
	text := func(x, y int, s string, c color.Color) {
		d := &font.Drawer{Dst: img, Src: image.NewUniform(c), Face: basicfont.Face7x13, Dot: fixed.P(x, y)}
		d.DrawString(s)
	}
	textW := func(s string) int { return len(s) * 7 }
	text(10, 20, "MCP tools/call echo: requests per second by client count (higher is better)", color.Black)
	plotW := width - left - right
	// Grid lines.
	step := niceStep(maxRPS / 5)
	for v := 0.0; v <= maxRPS; v += step {
		x := left + int(v/maxRPS*float64(plotW))
		fill(img, x, top-5, 1, len(groups)*groupH, color.RGBA{0xdd, 0xdd, 0xdd, 255})
		lbl := fmt.Sprintf("%.0f", v)
		text(x-textW(lbl)/2, top-8, lbl, color.Gray{0x66})
	}
	for gi, g := range groups {
		y := top + gi*groupH
		if gi%2 == 1 {
			fill(img, 0, y-gap/2, width, groupH, color.RGBA{0xf6, 0xf6, 0xf6, 255})
		}
		text(left-8-textW(g.name), y+len(clients)*barH/2+4, g.name, color.Black)
		for ci, n := range clients {
			v, ok := g.rps[n]
			if !ok {
				continue
			}
			w := int(v / maxRPS * float64(plotW))
			by := y + ci*barH
			fill(img, left, by, max(w, 1), barH-1, palette[ci%len(palette)])
			text(left+w+4, by+barH-1, fmt.Sprintf("%.0f", v), color.Gray{0x33})
		}
	}
	ly := top + len(groups)*groupH + 15
	lx := left
	for ci, n := range clients {
		fill(img, lx, ly-9, 14, 10, palette[ci%len(palette)])
		s := fmt.Sprintf("%d client(s)", n)
		text(lx+18, ly, s, color.Black)
		lx += 18 + textW(s) + 20
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func fill(img *image.RGBA, x, y, w, h int, c color.Color) {
	draw.Draw(img, image.Rect(x, y, x+w, y+h), image.NewUniform(c), image.Point{}, draw.Src)
}

func niceStep(raw float64) float64 {
	if raw <= 0 {
		return 1
	}
	p := 1.0
	for p*10 <= raw {
		p *= 10
	}
	for _, m := range []float64{1, 2, 5, 10} {
		if p*m >= raw {
			return p * m
		}
	}
	return p * 10
}
