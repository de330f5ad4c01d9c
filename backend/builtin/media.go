package builtin

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/color"
	"image/png"
	"math"
)

// redPixelPNG encodes a 1x1 red PNG, the smallest image a client can decode.
func redPixelPNG() []byte {
	img := image.NewRGBA(image.Rect(0, 0, 1, 1))
	img.Set(0, 0, color.RGBA{R: 0xff, A: 0xff})
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		// Encoding an in-memory RGBA image into a buffer cannot fail.
		panic("builtin: encoding the fixture PNG: " + err.Error())
	}
	return buf.Bytes()
}

// toneWAV returns a valid RIFF/WAVE file: 50 ms of a 440 Hz tone, 8 kHz,
// 16-bit mono PCM. The suite checks only the MIME type and that data is
// present, but a real file keeps the fixture useful for people trying it.
func toneWAV() []byte {
	const (
		rate     = 8000
		samples  = rate / 20
		bits     = 16
		channels = 1
	)
	pcm := make([]byte, 0, samples*2)
	for i := range samples {
		v := int16(8000 * math.Sin(2*math.Pi*440*float64(i)/rate))
		pcm = binary.LittleEndian.AppendUint16(pcm, uint16(v))
	}

	var b []byte
	le := binary.LittleEndian
	b = append(b, "RIFF"...)
	b = le.AppendUint32(b, uint32(36+len(pcm)))
	b = append(b, "WAVEfmt "...)
	b = le.AppendUint32(b, 16) // fmt chunk size
	b = le.AppendUint16(b, 1)  // PCM
	b = le.AppendUint16(b, channels)
	b = le.AppendUint32(b, rate)
	b = le.AppendUint32(b, rate*channels*bits/8) // byte rate
	b = le.AppendUint16(b, channels*bits/8)      // block align
	b = le.AppendUint16(b, bits)
	b = append(b, "data"...)
	b = le.AppendUint32(b, uint32(len(pcm)))
	return append(b, pcm...)
}
