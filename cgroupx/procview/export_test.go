package procview

import (
	"context"
	"time"

	"golang.org/x/sys/unix"
)

// TakeOneRequest dials a holder, reads one request from the connection
// and never answers it: a server that dies in the middle of a request.
// It calls took when it has the request, then sleeps until killed.
func TakeOneRequest(ctx context.Context, socket string, took func(opcode uint32)) error {
	c, err := Dial(ctx, socket)
	if err != nil {
		return err
	}
	fd, err := dupNonblock(c)
	if err != nil {
		return err
	}
	buf := make([]byte, requestBuf)
	for {
		n, err := unix.Read(fd, buf)
		if err == nil && n >= inHeaderSize {
			took(uint32(buf[4]) | uint32(buf[5])<<8 | uint32(buf[6])<<16 | uint32(buf[7])<<24)
			break
		}
		time.Sleep(time.Millisecond)
	}
	<-ctx.Done()
	return nil
}
