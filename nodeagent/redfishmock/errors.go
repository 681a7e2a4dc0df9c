package redfishmock

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// baseRegistry prefixes MessageIds. Clients match on the key after the
// version, so any published Base version would do.
const baseRegistry = "Base.1.16."

// message is one entry of @Message.ExtendedInfo.
type message struct {
	key        string
	text       string
	args       []string
	related    []string
	severity   string
	resolution string
}

// errorBody is the Redfish error envelope (DSP0266 "Error responses").
type errorBody struct {
	Error errorPayload `json:"error"`
}

type errorPayload struct {
	Code         string        `json:"code"`
	Message      string        `json:"message"`
	ExtendedInfo []extendedMsg `json:"@Message.ExtendedInfo"`
}

type extendedMsg struct {
	ODataType         string   `json:"@odata.type"`
	MessageID         string   `json:"MessageId"`
	Message           string   `json:"Message"`
	MessageArgs       []string `json:"MessageArgs"`
	RelatedProperties []string `json:"RelatedProperties,omitempty"`
	Severity          string   `json:"Severity"`
	Resolution        string   `json:"Resolution,omitempty"`
}

// httpError is what handlers return to have a Redfish error written.
type httpError struct {
	status int
	msgs   []message
}

func (e *httpError) Error() string {
	if len(e.msgs) == 0 {
		return http.StatusText(e.status)
	}
	return e.msgs[0].text
}

func newError(status int, msgs ...message) *httpError {
	return &httpError{status: status, msgs: msgs}
}

func writeError(w http.ResponseWriter, e *httpError) {
	code := baseRegistry + "GeneralError"
	text := "A general error has occurred. See ExtendedInfo for more information."
	if len(e.msgs) == 1 {
		code = baseRegistry + e.msgs[0].key
		text = e.msgs[0].text
	}
	body := errorBody{Error: errorPayload{Code: code, Message: text}}
	for _, m := range e.msgs {
		sev := m.severity
		if sev == "" {
			sev = "Critical"
		}
		args := m.args
		if args == nil {
			args = []string{}
		}
		body.Error.ExtendedInfo = append(body.Error.ExtendedInfo, extendedMsg{
			ODataType:         "#Message.v1_1_1.Message",
			MessageID:         baseRegistry + m.key,
			Message:           m.text,
			MessageArgs:       args,
			RelatedProperties: m.related,
			Severity:          sev,
			Resolution:        m.resolution,
		})
	}
	data, _ := json.MarshalIndent(body, "", "  ")
	w.Header().Set("Content-Type", contentJSON)
	w.Header().Set("OData-Version", "4.0")
	w.WriteHeader(e.status)
	_, _ = w.Write(data)
}

// Constructors for the Base registry messages the server emits. Wording
// follows the DMTF Base message registry so that clients parsing real BMC
// errors are exercised the same way.

func errNotFound(uri string) *httpError {
	return newError(http.StatusNotFound, message{
		key: "ResourceMissingAtURI", args: []string{uri},
		text:       fmt.Sprintf("The resource at the URI '%s' was not found.", uri),
		resolution: "Place a valid resource at the URI or correct the URI and resubmit the request.",
	})
}

func errInvalidURI(uri string) *httpError {
	return newError(http.StatusBadRequest, message{
		key: "InvalidURI", args: []string{uri},
		text: fmt.Sprintf("The URI %q was not found.", uri),
	})
}

func errMethodNotAllowed(method, uri string) *httpError {
	return newError(http.StatusMethodNotAllowed, message{
		key: "OperationNotAllowed", args: []string{method, uri},
		text: fmt.Sprintf("The %s operation is not allowed on %s by this mockup server.", method, uri),
	})
}

func errUnauthorized(uri string) *httpError {
	return newError(http.StatusUnauthorized, message{
		key: "ResourceAtUriUnauthorized", args: []string{uri, "Unauthorized"},
		text:       fmt.Sprintf("While accessing the resource at %s, the service received an authorization error: Unauthorized.", uri),
		resolution: "Ensure that the appropriate access is provided for the service in order for it to access the URI.",
	})
}

func errMalformedJSON() *httpError {
	return newError(http.StatusBadRequest, message{
		key:        "MalformedJSON",
		text:       "The request body submitted was malformed JSON and could not be parsed by the receiving service.",
		resolution: "Ensure that the request body is valid JSON and resubmit the request.",
	})
}

func errPreconditionFailed(uri string) *httpError {
	return newError(http.StatusPreconditionFailed, message{
		key: "PreconditionFailed", args: []string{uri},
		text:       "The ETag supplied did not match the ETag required to change this resource.",
		resolution: "Try the operation again using the appropriate ETag.",
	})
}

func errPropertyUnknown(prop string) *httpError {
	return newError(http.StatusBadRequest, message{
		key: "PropertyUnknown", args: []string{prop}, related: []string{"#/" + prop},
		text: fmt.Sprintf("The property %s is not in the list of valid properties for the resource.", prop),
	})
}

func errPropertyNotWritable(prop string) *httpError {
	return newError(http.StatusBadRequest, message{
		key: "PropertyNotWritable", args: []string{prop}, related: []string{"#/" + prop},
		text: fmt.Sprintf("The property %s is a read only property and cannot be assigned a value.", prop),
	})
}

func errPropertyType(prop, value string) *httpError {
	return newError(http.StatusBadRequest, message{
		key: "PropertyValueTypeError", args: []string{value, prop}, related: []string{"#/" + prop},
		text: fmt.Sprintf("The value %s for the property %s is not a type that the property can accept.", value, prop),
	})
}

func errPropertyNotInList(prop, value string) *httpError {
	return newError(http.StatusBadRequest, message{
		key: "PropertyValueNotInList", args: []string{value, prop}, related: []string{"#/" + prop},
		text: fmt.Sprintf("The value %s for the property %s is not in the list of acceptable values.", value, prop),
	})
}

func errActionNotSupported(action string) *httpError {
	return newError(http.StatusBadRequest, message{
		key: "ActionNotSupported", args: []string{action},
		text: fmt.Sprintf("The action %s is not supported by the resource.", action),
	})
}

func errParamMissing(action, param string) *httpError {
	return newError(http.StatusBadRequest, message{
		key: "ActionParameterMissing", args: []string{action, param}, related: []string{"#/" + param},
		text: fmt.Sprintf("The action %s requires the parameter %s to be present in the request body.", action, param),
	})
}

func errParamUnknown(action, param string) *httpError {
	return newError(http.StatusBadRequest, message{
		key: "ActionParameterUnknown", args: []string{action, param}, related: []string{"#/" + param},
		text: fmt.Sprintf("The action %s was submitted with the invalid parameter %s.", action, param),
	})
}

func errParamType(action, param, value string) *httpError {
	return newError(http.StatusBadRequest, message{
		key: "ActionParameterValueTypeError", args: []string{value, param, action}, related: []string{"#/" + param},
		text: fmt.Sprintf("The value %s for the parameter %s in the action %s is of a different type than the parameter can accept.", value, param, action),
	})
}

func errParamNotInList(action, param, value string) *httpError {
	return newError(http.StatusBadRequest, message{
		key: "ActionParameterValueNotInList", args: []string{value, param, action}, related: []string{"#/" + param},
		text: fmt.Sprintf("The value %s for the parameter %s in the action %s is not in the list of acceptable values.", value, param, action),
	})
}

func errResourceInUse(uri string) *httpError {
	return newError(http.StatusConflict, message{
		key: "ResourceInUse", args: []string{uri},
		text:       "The change to the requested resource failed because the resource is in use or in transition.",
		resolution: "Remove the condition and resubmit the request if the operation failed.",
	})
}
