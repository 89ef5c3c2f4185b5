package commitlog

// applyRetention deletes old segments by retention.ms and retention.bytes
// (cleanup.policy=delete) and those below the log start offset. Only
// segments wholly below the high watermark go; the active segment is rolled
// first when all its data has expired. Mirrors
// kafka.log.UnifiedLog.deleteOldSegments. It returns how many segments it
// deleted.
func (l *Log) applyRetention(now int64) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed || l.offline.Load() != nil {
		return 0, nil
	}
	cfg := l.cfg
	if !cfg.CleanupDelete {
		return l.deleteLocked(func(int, *segment) bool { return false })
	}
	hw := l.hw.Load()
	var total int64
	for _, s := range l.segs {
		total += s.size
	}
	expired := func(i int, s *segment) bool {
		end := l.leo.Load()
		if i+1 < len(l.segs) {
			end = l.segs[i+1].base
		}
		if end > hw || s.size == 0 {
			return false
		}
		if cfg.RetentionBytes >= 0 && total-s.size >= cfg.RetentionBytes {
			return true
		}
		if cfg.RetentionMs >= 0 {
			if err := s.ensureIndexes(s.size, cfg.IndexIntervalBytes); err != nil {
				l.logger.Warn("load segment index", "segment", segmentName(s.base), "err", err)
				return false
			}
			s.imu.Lock()
			maxTs := s.maxTs
			s.imu.Unlock()
			return maxTs >= 0 && now-maxTs > cfg.RetentionMs
		}
		return false
	}
	// When the active segment has expired too, roll so that it can go.
	if act := l.active(); act.size > 0 {
		allExpired := true
		for i, s := range l.segs {
			if !expired(i, s) {
				allExpired = false
				break
			}
		}
		if allExpired {
			if err := l.rollLocked(l.leo.Load()); err != nil {
				return 0, err
			}
		}
	}
	return l.deleteLocked(func(i int, s *segment) bool {
		if expired(i, s) {
			total -= s.size
			return true
		}
		return false
	})
}

// deleteLocked runs deleteSegmentsLocked and counts. l.mu must be held.
func (l *Log) deleteLocked(extra func(int, *segment) bool) (int, error) {
	n := len(l.segs)
	err := l.deleteSegmentsLocked(extra)
	return n - len(l.segs), err
}
