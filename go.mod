module github.com/weftkit/weft

go 1.26

require (
	github.com/pires/go-proxyproto v0.15.0 // indirect
	github.com/smallnest/goframe v1.0.0 // indirect
	go.uber.org/goleak v1.3.0 // indirect
)
