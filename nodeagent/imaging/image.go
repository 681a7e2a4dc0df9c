package imaging

import "github.com/ibex-hpc/ibex/model"

// Image is one catalog entry: which bytes a node's disk must end up
// holding, and where to fetch them. The type and its validation live in
// model, once for the catalog, the API and the agent.
type Image = model.Image

// ErrInvalidImage is wrapped by every Image.Validate error.
var ErrInvalidImage = model.ErrInvalidImage
