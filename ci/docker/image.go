package docker

import (
	"context"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
)

// ImageExists reports whether the daemon has the image (an ID or a
// reference such as "name:tag").
func (c *Client) ImageExists(ctx context.Context, ref string) (bool, error) {
	found := false
	err := c.call(ctx, "inspect image "+ref, func(ctx context.Context) error {
		_, err := c.api.ImageInspect(ctx, ref)
		if cerrdefs.IsNotFound(err) {
			return nil
		}
		found = err == nil
		return err
	})
	return found, err
}

// RemoveImage removes an image (an ID or a reference) and its untagged
// parents; with an ID, all its tags go too. An image that does not exist
// is not an error.
func (c *Client) RemoveImage(ctx context.Context, ref string) error {
	return c.call(ctx, "remove image "+ref, func(ctx context.Context) error {
		_, err := c.api.ImageRemove(ctx, ref, client.ImageRemoveOptions{Force: true, PruneChildren: true})
		if cerrdefs.IsNotFound(err) {
			return nil
		}
		return err
	})
}
