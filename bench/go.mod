module github.com/sbx-run/sbx/bench

go 1.24

require (
	github.com/sbx-run/sbx/go v0.0.0
	github.com/tetratelabs/wazero v1.9.0
)

replace github.com/sbx-run/sbx/go => ../go
