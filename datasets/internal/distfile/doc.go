// Package distfile holds what the plugins of datasets distributed as files
// and archives (cifar, stl10) share: the error naming a malformed file, the
// archive member and the byte offset (Error, StreamProblem); reading that
// stops when a context is done (ContextReader); a file's version by path,
// size and modification time (StatKey) and a cache of the few most recently
// decoded values by such keys (Recent); and the class-names text files both
// distributions ship (ClassNames).
package distfile
