package boltstore

// SimulateCrash ends the store as a crash would: the open transaction is
// rolled back and the files are closed without a checkpoint, so that what
// the next Open finds is the last checkpoint and the write-ahead log.
func (s *Store) SimulateCrash() error { return s.shutdown(true) }
