package pyworker

import (
	"context"
	"errors"

	"github.com/gompx/gompx/gompx/internal/errs"
	"github.com/gompx/gompx/gompx/internal/workpool"
	"github.com/gompx/gompx/gompx/internal/workproto"
	"github.com/gompx/gompx/pickle"
)

// Map calls target once per item, with the item as its only argument, and
// returns the results in the order of items. Items travel in chunks of
// chunkSize (0: about four chunks per worker, as Python's Pool.map chooses),
// one request per chunk, spread over the workers. Every chunk runs even if
// one raises; the error returned is that of the first item that raised, a
// *PythonError whose Index is the item's position.
func (p *Pool) Map(ctx context.Context, target string, items []any, chunkSize int) ([]any, error) {
	if err := checkTarget(target); err != nil {
		return nil, err
	}
	if chunkSize <= 0 {
		chunkSize = defaultChunk(len(items), p.n)
	}
	tasks := make([]*workpool.Task, 0, (len(items)+chunkSize-1)/chunkSize)
	defer func() {
		for _, t := range tasks {
			t.Cancel(context.Canceled) // a no-op for finished tasks
		}
	}()
	for start := 0; start < len(items); start += chunkSize {
		chunk := items[start:min(start+chunkSize, len(items))]
		t, err := p.submitChunk(target, chunk)
		if err != nil {
			return nil, err
		}
		tasks = append(tasks, t)
	}
	out := make([]any, 0, len(items))
	var first error
	for i, t := range tasks {
		reply, err := t.Wait(ctx)
		if err != nil {
			err = errs.Errorf("map %s: %w", target, err)
		} else {
			out, err = appendResults(out, target, reply, i*chunkSize)
		}
		if err != nil && first == nil {
			first = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	if first != nil {
		return nil, first
	}
	return out, nil
}

func defaultChunk(items, workers int) int {
	chunk, extra := items/(workers*4), items%(workers*4)
	if extra != 0 {
		chunk++
	}
	return max(chunk, 1)
}

// submitChunk queues one map request for chunk.
func (p *Pool) submitChunk(target string, chunk []any) (*workpool.Task, error) {
	calls := make([]any, len(chunk))
	for i, item := range chunk {
		calls[i] = pickle.Tuple{item}
	}
	argp, err := pickle.Marshal(calls)
	if err != nil {
		return nil, errs.Errorf("map %s: arguments: %w", target, err)
	}
	req, err := workproto.AppendRequest(nil, workproto.OpMap, target, argp, nil)
	if err != nil {
		return nil, errs.Errorf("map %s: %w", target, err)
	}
	t, err := p.pool.Submit(req)
	if err != nil {
		return nil, errs.Errorf("map %s: %w", target, err)
	}
	return t, nil
}

// appendResults decodes one chunk's reply onto out; offset is the position
// of the chunk's first item.
func appendResults(out []any, target string, reply []byte, offset int) ([]any, error) {
	body, err := replyBody(target, reply)
	var pe *PythonError
	if errors.As(err, &pe) {
		pe.Index += offset
	}
	if err != nil {
		return out, err
	}
	v, err := decode(target, body)
	if err != nil {
		return out, err
	}
	list, ok := v.([]any)
	if !ok {
		return out, errs.Errorf("map %s: worker replied with %T, not a list", target, v)
	}
	return append(out, list...), nil
}
