package convert

import (
	"strconv"

	"github.com/ibex-hpc/ibex/model"
	"github.com/ibex-hpc/ibex/pipeline"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
)

// pipelineFields sets a job's dependency, array, hold and begin fields.
func pipelineFields(out *pb.Job, j *model.Job) {
	out.Dependency = pipeline.FormatDependency(j.Depend)
	out.ArrayJobId, out.ArrayTaskId = j.ArrayJobID, int32(j.ArrayTaskID)
	if len(j.ArrayPending) > 0 {
		out.ArrayPending = j.ArrayPending.String()
		if j.ArrayThrottle > 0 {
			out.ArrayPending += "%" + strconv.Itoa(j.ArrayThrottle)
		}
	}
	out.Held, out.BeginTime = j.Held, TS(j.BeginTime)
	out.ArrayDone, out.ArrayFailed = j.ArrayDone, int32(j.ArrayFailed)
}
