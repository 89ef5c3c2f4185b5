package txn

import (
	"errors"

	"github.com/kavka-io/kavka/internal/coordinator"
)

// Errors of the transaction coordinator. The handler maps them to Kafka's
// codes (internal/handler/errcode.go).
var (
	// ErrInvalidTimeout: transaction timeout ≤ 0 or above
	// transaction.max.timeout.ms (INVALID_TRANSACTION_TIMEOUT).
	ErrInvalidTimeout = errors.New("txn: invalid transaction timeout")
	// ErrConcurrentTransactions: the transaction is completing or another
	// request is changing it; retriable (CONCURRENT_TRANSACTIONS).
	ErrConcurrentTransactions = errors.New("txn: concurrent transactions")
	// ErrProducerFenced: a newer producer epoch owns the transactional id
	// (PRODUCER_FENCED).
	ErrProducerFenced = errors.New("txn: producer fenced")
	// ErrInvalidMapping: the producer id does not belong to the
	// transactional id, or the id is unknown (INVALID_PRODUCER_ID_MAPPING).
	ErrInvalidMapping = errors.New("txn: invalid producer id mapping")
	// ErrInvalidTxnState: the request does not fit the transaction's state
	// (INVALID_TXN_STATE).
	ErrInvalidTxnState = errors.New("txn: invalid transaction state")
	// ErrNotCoordinator: another broker leads the partition, or the shard
	// failed to write and was unloaded (NOT_COORDINATOR); the client finds
	// the coordinator again.
	ErrNotCoordinator = coordinator.ErrNotCoordinator
	// ErrCoordinatorNotAvailable: __transaction_state could not be opened
	// or loaded (COORDINATOR_NOT_AVAILABLE).
	ErrCoordinatorNotAvailable = coordinator.ErrNotAvailable
	// ErrInvalidRequest: a malformed request, e.g. an empty transactional
	// id where one is required (INVALID_REQUEST).
	ErrInvalidRequest = errors.New("txn: invalid request")
	// ErrProducerIDsExhausted: the producer id space is used up.
	ErrProducerIDsExhausted = errors.New("txn: producer ids exhausted")
)
