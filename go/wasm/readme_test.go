package wasm

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The root README shows Example_plugin's body verbatim between these markers.
const (
	readmeStart = "<!-- plugin-example:start -->"
	readmeEnd   = "<!-- plugin-example:end -->"
)

// examplePluginBody is the body of Example_plugin, from after its opening
// line up to its "// Output:" comment.
func examplePluginBody(t *testing.T) string {
	t.Helper()
	src, err := os.ReadFile("example_plugin_test.go")
	if err != nil {
		t.Fatal(err)
	}
	_, body, ok := strings.Cut(string(src), "func Example_plugin() {\n")
	if !ok {
		t.Fatal("example_plugin_test.go has no Example_plugin")
	}
	body, _, ok = strings.Cut(body, "\t// Output:\n")
	if !ok {
		t.Fatal("Example_plugin has no // Output: comment")
	}
	return body
}

var errNoMarkers = errors.New("no plugin-example markers")

// checkReadme says whether readme shows body between the markers.
func checkReadme(readme, body string) error {
	_, section, ok := strings.Cut(readme, readmeStart)
	if !ok {
		return errNoMarkers
	}
	section, _, ok = strings.Cut(section, readmeEnd)
	if !ok {
		return errors.New("README.md has " + readmeStart + " but no " + readmeEnd + " after it")
	}
	if !strings.Contains(section, body) {
		return errors.New("README.md's plugin example differs from the body of Example_plugin " +
			"(go/wasm/example_plugin_test.go); paste this between the markers, inside func main:\n" + body)
	}
	return nil
}

func TestREADMEPluginExampleIsCurrent(t *testing.T) {
	body := examplePluginBody(t)
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if err := checkReadme(string(readme), body); err != nil {
		t.Error(err)
	}
}

func TestCheckReadme(t *testing.T) {
	body := "\tfmt.Println(1)\n"
	for readme, ok := range map[string]bool{
		"x\n" + readmeStart + "\n```go\nfunc main() {\n" + body + "}\n```\n" + readmeEnd + "\n": true,
		readmeStart + "\n```go\nfunc main() {\n\tfmt.Println(2)\n}\n```\n" + readmeEnd:          false,
		readmeStart + "\n" + body:                    false,
		readmeStart + "\n" + readmeEnd + "\n" + body: false,
	} {
		if err := checkReadme(readme, body); (err == nil) != ok {
			t.Errorf("checkReadme(%q) = %v; want ok %v", readme, err, ok)
		}
	}
	if err := checkReadme("no markers", body); !errors.Is(err, errNoMarkers) {
		t.Errorf("without markers: %v", err)
	}
}
