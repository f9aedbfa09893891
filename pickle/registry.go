package pickle

// Registry maps Python classes to Go values for the decoder. An instance of
// a registered class is first decoded as an *Object, complete with its
// arguments and state; the registered function then turns it into the Go
// value the caller wants. Unregistered classes stay *Object. For encoding,
// a Go type implements Reducer instead.
//
// A Registry is filled before use and then only read; it is safe for
// concurrent decoders once filled.
type Registry struct {
	decoders map[Class]func(*Object) (any, error)
}

// NewRegistry returns an empty Registry.
func NewRegistry() *Registry {
	return &Registry{decoders: make(map[Class]func(*Object) (any, error))}
}

// Register makes the decoder call fn for each instance of module.name.
// A later Register for the same class replaces the earlier one.
func (r *Registry) Register(module, name string, fn func(obj *Object) (any, error)) {
	r.decoders[Class{module, name}] = fn
}
