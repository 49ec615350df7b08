// Command goplaintext is the Go net/http baseline of bench/run_tfb.sh: the
// TechEmpower plaintext handler on the standard library alone. The script runs
// it with GOMAXPROCS=1 so it competes on one core like the other targets.
package main

import (
	"flag"
	"log"
	"net/http"
)

var body = []byte("Hello, World!")

func plaintext(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain")
	w.Write(body)
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	flag.Parse()
	mux := http.NewServeMux()
	mux.HandleFunc("/plaintext", plaintext)
	log.Fatal(http.ListenAndServe(*addr, mux))
}
