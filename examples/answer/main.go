// Command answer is a LineReceiver that answers questions from a map, and
// "I don't know what you mean" otherwise.
//
//	go run ./examples/answer -listen 127.0.0.1:8042
//
// Then `nc 127.0.0.1 8042` and ask "what is weft?", "how are you?" or
// "what time is it?" (see Answers); anything else gets the Unknown answer.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/weftkit/weft"
	"github.com/weftkit/weft/codec"
	"github.com/weftkit/weft/server"
)

// Unknown is the answer to a question not in the map.
const Unknown = "I don't know what you mean"

// Answers are the known questions (compared without case or surrounding
// space) and their answers.
var Answers = map[string]string{
	"how are you?":     "Fine",
	"what is weft?":    "Twisted's protocols, in Go",
	"what time is it?": "Time to write a protocol",
}

// Answerer is the Factory; Answers maps questions to answers.
type Answerer struct {
	// Answers maps a question, lower case and without surrounding space,
	// to its answer.
	Answers map[string]string
}

// BuildProtocol implements weft.Factory.
func (a Answerer) BuildProtocol(net.Addr) weft.Protocol {
	return codec.NewLineReceiver(&answer{m: a.Answers})
}

type answer struct {
	m map[string]string
	r *codec.LineReceiver
}

func (a *answer) ConnectionMade(r *codec.LineReceiver) { a.r = r }

func (a *answer) LineReceived(line []byte) {
	reply, ok := a.m[strings.ToLower(strings.TrimSpace(string(line)))]
	if !ok {
		reply = Unknown
	}
	_ = a.r.SendLine([]byte(reply))
}

func (a *answer) ConnectionLost(error) {}

func main() {
	addr := flag.String("listen", "127.0.0.1:8042", "address to listen on")
	flag.Parse()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("listening on", ln.Addr())
	srv := &server.Server{Factory: Answerer{Answers: Answers}}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := srv.Run(ctx, 5*time.Second, ln); err != nil { // then drains for up to 5 s
		log.Fatal(err)
	}
}
