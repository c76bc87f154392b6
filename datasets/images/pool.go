package main

import (
	"context"
	"runtime"
	"sync"
)

// ordered runs work(i) for i = 0..n-1 on workers goroutines and calls emit
// with the results in index order, from the calling goroutine. At most
// ahead results are computed beyond the one emit waits for, which bounds
// the memory of decoded images. emit returns false to stop early (the
// results computed beyond are dropped); an error of emit, or the context's,
// stops everything and is returned. Nothing runs after ordered returns.
func ordered[T any](ctx context.Context, n, workers, ahead int, work func(i int) T, emit func(i int, r T) (bool, error)) error {
	return staged(ctx, n, workers, ahead, func(int) struct{} { return struct{}{} },
		func(i int, _ struct{}) T { return work(i) }, emit)
}

// staged is ordered with a first stage: prepare(i) runs on one goroutine
// in index order (so it may keep state, such as where in a batch image i
// goes), at most ahead indices beyond the one emit waits for, and its
// result is handed to work(i, p) on a worker.
func staged[P, T any](ctx context.Context, n, workers, ahead int, prepare func(i int) P, work func(i int, p P) T, emit func(i int, r T) (bool, error)) error {
	if n == 0 {
		return ctx.Err()
	}
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = max(1, min(workers, n))
	ahead = max(ahead, workers)
	// slots[i%ahead] carries result i; window admits index i only once
	// result i-ahead has been emitted, so a slot holds one result at most.
	slots := make([]chan T, ahead)
	for i := range slots {
		slots[i] = make(chan T, 1)
	}
	window := make(chan struct{}, ahead)
	type job struct {
		i int
		p P
	}
	jobs := make(chan job)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for j := range jobs {
				slots[j.i%ahead] <- work(j.i, j.p)
			}
		})
	}
	go func() {
		defer close(jobs)
		for i := range n {
			select {
			case window <- struct{}{}:
			case <-stop:
				return
			}
			select {
			case jobs <- job{i, prepare(i)}:
			case <-stop:
				return
			}
		}
	}()
	defer wg.Wait()
	defer close(stop)
	for i := range n {
		var r T
		select {
		case r = <-slots[i%ahead]:
		case <-ctx.Done():
			return ctx.Err()
		}
		more, err := emit(i, r)
		if err != nil {
			return err
		}
		if !more {
			return nil
		}
		<-window
	}
	return nil
}
