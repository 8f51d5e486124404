// Command vcsim starts govmomi's vCenter simulator for vrmgmt's tests.
//
// It is built from Debian's golang-github-vmware-govmomi-dev (govmomi 0.24.2, GOPATH
// mode, no network) by tests/support/vcsim.py; the only other Go package it needs is
// github.com/google/uuid from golang-github-google-uuid-dev.
//
// The simulated vCenter (VPX model, or ESX with -esx) listens on -l with TLS. Its
// certificate is ECDSA P-256 for 127.0.0.1/::1/localhost, read from -tls-cert/-tls-key
// or, when those files do not exist yet, generated and written there, so a restart on the
// same port serves the same certificate and clients can verify it (the simulator's
// built-in certificate is RSA-1024, which OpenSSL on Debian 12 refuses to verify).
//
// When ready it prints one line "VCSIM_URL=https://HOST:PORT/sdk" (no credentials) on
// stdout, then serves until SIGTERM or SIGINT.
package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"flag"
	"fmt"
	"log"
	"math/big"
	"net"
	"net/url"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

func main() {
	listen := flag.String("l", "127.0.0.1:0", "listen address host:port (port 0 picks a free one)")
	username := flag.String("username", "user", "login user name")
	password := flag.String("password", envOr("VCSIM_PASSWORD", "pass"),
		"login password (default $VCSIM_PASSWORD, which keeps it out of ps)")
	esx := flag.Bool("esx", false, "simulate a standalone ESXi host instead of vCenter")
	datacenters := flag.Int("dc", 1, "datacenters (VPX only)")
	clusters := flag.Int("cluster", 1, "clusters per datacenter (VPX only)")
	clusterHosts := flag.Int("host", 2, "hosts per cluster (VPX only)")
	standalone := flag.Int("standalone-host", 0, "standalone hosts per datacenter (VPX only)")
	vms := flag.Int("vm", 2, "VMs per resource pool (each cluster and standalone host has one)")
	portgroups := flag.Int("pg", 1, "distributed port groups per datacenter (VPX only)")
	tools := flag.Int("tools-running", 0, "report VMware Tools running for the first N VMs by name (-1: all)")
	delays := flag.String("method-delay", "",
		"comma-separated METHOD=MILLISECONDS: serve these SOAP methods that much later "+
			"(e.g. PowerOffVM_Task=1500, to make a task take its time)")
	certFile := flag.String("tls-cert", "", "PEM certificate file (generated when missing)")
	keyFile := flag.String("tls-key", "", "PEM key file (generated when missing)")
	flag.Parse()

	var model *simulator.Model
	if *esx {
		model = simulator.ESX()
	} else {
		model = simulator.VPX()
		model.Datacenter = *datacenters
		model.Cluster = *clusters
		model.ClusterHost = *clusterHosts
		model.Host = *standalone
		model.Portgroup = *portgroups
	}
	model.Machine = *vms

	if err := model.Create(); err != nil {
		log.Fatalf("vcsim: creating the model: %v", err)
	}
	defer model.Remove()

	markToolsRunning(*tools)

	if *delays != "" {
		model.DelayConfig.MethodDelay = map[string]int{}
		for _, item := range strings.Split(*delays, ",") {
			parts := strings.SplitN(item, "=", 2)
			ms, err := strconv.Atoi(strings.TrimSpace(parts[len(parts)-1]))
			if len(parts) != 2 || err != nil || ms < 0 {
				log.Fatalf("vcsim: -method-delay: %q is not METHOD=MILLISECONDS", item)
			}
			model.DelayConfig.MethodDelay[strings.TrimSpace(parts[0])] = ms
		}
	}

	cert, err := loadOrCreateCert(*certFile, *keyFile)
	if err != nil {
		log.Fatalf("vcsim: TLS certificate: %v", err)
	}
	model.Service.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	model.Service.Listen = &url.URL{Host: *listen, User: url.UserPassword(*username, *password)}

	server := model.Service.NewServer()

	u := *server.URL
	u.User = nil
	fmt.Printf("VCSIM_URL=%s\n", u.String())
	_ = os.Stdout.Sync()

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig

	// Close waits for in-flight requests; do not let a stuck client keep us alive.
	done := make(chan struct{})
	go func() {
		server.CloseClientConnections()
		server.Close()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
	}
}

func envOr(name, fallback string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return fallback
}

// markToolsRunning makes the first n VMs (by name) report running VMware Tools, so that
// guest operations (ShutdownGuest) can be exercised; vcsim reports them not running.
func markToolsRunning(n int) {
	if n == 0 {
		return
	}
	var machines []*simulator.VirtualMachine
	for _, e := range simulator.Map.All("VirtualMachine") {
		if vm, ok := e.(*simulator.VirtualMachine); ok {
			machines = append(machines, vm)
		}
	}
	sort.Slice(machines, func(i, j int) bool { return machines[i].Name < machines[j].Name })
	if n < 0 || n > len(machines) {
		n = len(machines)
	}
	for _, vm := range machines[:n] {
		vm.Guest.ToolsRunningStatus = string(types.VirtualMachineToolsRunningStatusGuestToolsRunning)
		vm.Guest.ToolsStatus = types.VirtualMachineToolsStatusToolsOk
		vm.Guest.ToolsVersion = "11333"
		if vm.Summary.Guest != nil {
			vm.Summary.Guest.ToolsStatus = types.VirtualMachineToolsStatusToolsOk
			vm.Summary.Guest.ToolsRunningStatus = vm.Guest.ToolsRunningStatus
		}
	}
}

func loadOrCreateCert(certFile, keyFile string) (tls.Certificate, error) {
	if certFile != "" && keyFile != "" {
		if _, err := os.Stat(certFile); err == nil {
			return tls.LoadX509KeyPair(certFile, keyFile)
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "vcsim", Organization: []string{"vrmgmt tests"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return tls.Certificate{}, err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	if certFile != "" && keyFile != "" {
		if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
			return tls.Certificate{}, err
		}
		if err := os.WriteFile(certFile, certPEM, 0o644); err != nil {
			return tls.Certificate{}, err
		}
	}
	return tls.X509KeyPair(certPEM, keyPEM)
}
