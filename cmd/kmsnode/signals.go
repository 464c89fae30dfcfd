package main

import (
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/kmsnode/kmsnode/node"
)

// hupReloader turns SIGHUP into a reload of the API certificate, key and
// client CA (node.ReloadTLS). It catches the signal from the moment `kmsnode
// serve` has parsed its flags, because Go's default action for SIGHUP is to
// exit: an operator who renews the certificate while the node is still
// unsealing must not stop it. Signals that arrive before the node serves
// become one reload as soon as it does.
type hupReloader struct {
	ch   chan os.Signal
	stop chan struct{}
	wg   sync.WaitGroup
	once sync.Once
}

func catchSIGHUP() *hupReloader {
	h := &hupReloader{ch: make(chan os.Signal, 1), stop: make(chan struct{})}
	signal.Notify(h.ch, syscall.SIGHUP)
	return h
}

// run reloads n's TLS files on every SIGHUP until close. ReloadTLS logs the
// outcome: a bad new pair keeps the old one serving.
func (h *hupReloader) run(n *node.Node, log *slog.Logger) {
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		for {
			select {
			case <-h.stop:
				return
			case <-h.ch:
				log.Info("SIGHUP: reloading the API TLS certificate, key and client CA")
				_ = n.ReloadTLS()
			}
		}
	}()
}

// close stops catching SIGHUP and waits for a reload in progress.
func (h *hupReloader) close() {
	h.once.Do(func() {
		signal.Stop(h.ch)
		close(h.stop)
		h.wg.Wait()
	})
}
