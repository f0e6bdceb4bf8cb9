module github.com/weftkit/weft

go 1.26

require (
	github.com/pires/go-proxyproto v0.15.0
	github.com/smallnest/goframe v1.0.0
	go.uber.org/goleak v1.3.0
)
