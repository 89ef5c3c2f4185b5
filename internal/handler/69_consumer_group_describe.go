package handler

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kavka-io/kavka/internal/group"
	"github.com/kavka-io/kavka/internal/metadata"
)

// ConsumerGroupDescribe (API key 69): versions 0–1 (KIP-848).
//
//	v1: MemberType (-1 unknown, 0 classic, 1 consumer; KIP-1099)
//
// A classic or unknown group answers GROUP_ID_NOT_FOUND, as in Kafka.
// Authorized operations are not computed (no authorizer yet): the field
// keeps its "not requested" default.
func (h *Handlers) consumerGroupDescribe(ctx context.Context, rc *RequestContext, req *kmsg.ConsumerGroupDescribeRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.ConsumerGroupDescribeResponse)
	gc, gerr := h.groups()
	im := h.deps.Image()
	for _, id := range req.Groups {
		rg := kmsg.NewConsumerGroupDescribeResponseGroup()
		rg.Group = id
		err := gerr
		var sum group.ConsumerGroupSummary
		if err == nil {
			sum, err = gc.DescribeConsumerGroup(ctx, id)
		}
		if err != nil {
			rg.ErrorCode = errorCode(err)
			rg.ErrorMessage = errorMessage(err)
			h.logGroupError(ctx, rc, "consumer group describe", id, err)
			resp.Groups = append(resp.Groups, rg)
			continue
		}
		rg.State = describeState(sum.State)
		rg.Epoch, rg.AssignmentEpoch, rg.AssignorName = sum.Epoch, sum.AssignmentEpoch, sum.Assignor
		for _, m := range sum.Members {
			rm := kmsg.NewConsumerGroupDescribeResponseGroupMember()
			rm.MemberID = m.MemberID
			rm.InstanceID, rm.RackID = groupStrPtr(m.InstanceID), groupStrPtr(m.RackID)
			rm.MemberEpoch = m.MemberEpoch
			rm.ClientID, rm.ClientHost = m.ClientID, m.ClientHost
			rm.SubscribedTopics = m.SubscribedTopicNames
			if rm.SubscribedTopics == nil {
				rm.SubscribedTopics = []string{}
			}
			rm.SubscribedTopicRegex = groupStrPtr(m.SubscribedTopicRegex)
			rm.Assignment = describeAssignment(im, m.Assignment)
			rm.TargetAssignment = describeAssignment(im, m.TargetAssignment)
			rm.MemberType = 1 // consumer: Kavka does not mix classic members into consumer groups
			rg.Members = append(rg.Members, rm)
		}
		resp.Groups = append(resp.Groups, rg)
	}
	return resp
}

// describeState is the state as ConsumerGroupDescribe spells it (Kafka's
// ConsumerGroupState.toString: lower case).
func describeState(s group.State) string {
	switch s {
	case group.Empty:
		return "Empty"
	case group.Assigning:
		return "Assigning"
	case group.Reconciling:
		return "Reconciling"
	case group.Stable:
		return "Stable"
	}
	return "Dead"
}

func describeAssignment(im *metadata.Image, tps []group.TopicPartitions) kmsg.Assignment {
	a := kmsg.NewAssignment()
	a.TopicPartitions = make([]kmsg.AssignmentTopicPartition, 0, len(tps))
	for _, t := range tps {
		at := kmsg.NewAssignmentTopicPartition()
		at.TopicID, at.Partitions = t.TopicID, t.Partitions
		if mt := im.TopicByID(t.TopicID); mt != nil {
			at.Topic = mt.Name
		}
		a.TopicPartitions = append(a.TopicPartitions, at)
	}
	return a
}
