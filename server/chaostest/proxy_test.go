package chaostest

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

func TestIndexAddr(t *testing.T) {
	b := []byte("\x00\xa2ID\xa2n1\xa4Addr\xaf127.0.0.1:40001\xa4Term")
	if i := indexAddr(b, "127.0.0.1:4000"); i != -1 {
		t.Fatalf("prefix of a longer port matched at %d", i)
	}
	if i := indexAddr(b, "127.0.0.1:40001"); i != 13 {
		t.Fatalf("address found at %d, want 13", i)
	}
}

// echo listens on 127.0.0.1 and echoes every line.
func echo(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()
	return l.Addr().String()
}

// dialAs connects to proxy as node from would: its first bytes carry from's address.
func dialAs(t *testing.T, proxy, fromAddr string) (net.Conn, *bufio.Reader) {
	c, err := net.Dial("tcp", proxy)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.Write([]byte("\x00hdr " + fromAddr + " end\n")); err != nil {
		t.Fatal(err)
	}
	return c, bufio.NewReader(c)
}

// roundTrip sends a line and reads the echo within d.
func roundTrip(c net.Conn, rd *bufio.Reader, line string, d time.Duration) error {
	_ = c.SetDeadline(time.Now().Add(d))
	if _, err := c.Write([]byte(line + "\n")); err != nil {
		return err
	}
	for {
		got, err := rd.ReadString('\n')
		if err != nil {
			return err
		}
		if got == line+"\n" {
			return nil
		}
	}
}

func TestNetCutsAndHeals(t *testing.T) {
	nw := NewNet()
	defer nw.Close()
	aAddr, err := nw.Add("a", echo(t))
	if err != nil {
		t.Fatal(err)
	}
	bAddr, err := nw.Add("b", echo(t))
	if err != nil {
		t.Fatal(err)
	}
	cAddr, err := nw.Add("c", echo(t))
	if err != nil {
		t.Fatal(err)
	}

	ab, abr := dialAs(t, bAddr, aAddr) // a → b
	if err := roundTrip(ab, abr, "hello", 5*time.Second); err != nil {
		t.Fatalf("a→b before the cut: %v", err)
	}
	nw.Cut("a", "b")
	// The open connection is closed, a new one from a is refused, c still reaches b.
	if err := roundTrip(ab, abr, "again", 5*time.Second); err == nil {
		t.Fatal("a→b still forwards after the cut")
	}
	ab2, ab2r := dialAs(t, bAddr, aAddr)
	if err := roundTrip(ab2, ab2r, "x", 5*time.Second); err == nil {
		t.Fatal("a new a→b connection forwards after the cut")
	}
	cb, cbr := dialAs(t, bAddr, cAddr)
	if err := roundTrip(cb, cbr, "from c", 5*time.Second); err != nil {
		t.Fatalf("c→b during the a-b cut: %v", err)
	}
	ba, bar := dialAs(t, aAddr, bAddr)
	if err := roundTrip(ba, bar, "x", 5*time.Second); err == nil {
		t.Fatal("b→a forwards after the cut")
	}

	// Blackhole: the connection stays open and silent until healed.
	nw.SetBlackhole(true)
	nw.Isolate("c")
	bc, bcr := dialAs(t, cAddr, bAddr)
	err = roundTrip(bc, bcr, "x", 300*time.Millisecond)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("blackholed b→c: %v, want a timeout", err)
	}
	nw.Heal()
	ab3, ab3r := dialAs(t, bAddr, aAddr)
	if err := roundTrip(ab3, ab3r, "healed", 5*time.Second); err != nil {
		t.Fatalf("a→b after heal: %v", err)
	}
}
