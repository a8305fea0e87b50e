module nemo-relay/ffi/go/nemorelay

go 1.21
