package commitlog

import "fmt"

// TruncateFullyAndStartAt deletes every segment and leaves an empty log
// whose log start and end offsets are offset, with an empty leader-epoch
// cache. A follower calls it when its log ends below its leader's log start
// offset (retention or DeleteRecords removed what it would fetch next): it
// cannot catch up by fetching, so it restarts at the leader's start. Mirrors
// kafka.log.UnifiedLog.truncateFullyAndStartAt. The producer state is
// cleared with its snapshots: they describe a log that no longer leads to
// offset (Kafka's ProducerStateManager.truncateFullyAndStartAt).
func (l *Log) TruncateFullyAndStartAt(offset int64) error {
	l.ps.mu.Lock()
	defer l.ps.mu.Unlock()
	before := l.LogEndOffset()
	if err := l.truncateFullyAndStartAt(offset); err != nil {
		l.ps.loaded = false
		return err
	}
	l.logger.Info("log emptied and restarted", "offset", offset, "log_end_before", before)
	return l.resetProducerStateLocked(func(int64) bool { return false })
}

func (l *Log) truncateFullyAndStartAt(offset int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.errIfUnusableLocked(); err != nil {
		return err
	}
	if offset < 0 {
		return fmt.Errorf("%w: start at %d", ErrOffsetOutOfRange, offset)
	}
	if err := l.truncateFullyLocked(offset); err != nil {
		return err
	}
	if _, err := l.epochs.truncateFromEnd(0); err != nil {
		return l.goOffline(err)
	}
	return nil
}
