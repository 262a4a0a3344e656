module github.com/sbx-run/sbx/go

go 1.24
