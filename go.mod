module github.com/weftkit/weft

go 1.26
