/*
 * parts.c — one multipart part in flight on a thread of its own, so that the caller can
 * prepare the next part (encode, compress) while S3 receives this one.
 *
 * The thread only runs aws_multipart_upload_part with the caller's client: the caller must
 * not use that client, nor touch the part's bytes, until aws_part_sender_wait returns. A
 * thread per part (created by start, joined by wait) keeps that hand-over plain: join is
 * the only synchronisation, and it orders every write of the thread before the caller's
 * next read. The thread blocks every signal, so a host's signal handlers (PostgreSQL's)
 * run on the caller's thread only. Interrupts reach the transfer through the client's
 * interrupt_fn, which the thread polls as any call does: it must only read flags.
 */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "aws.h"
#include "aws_internal.h"

struct aws_part_sender
{
	pthread_t	thread;
	bool		busy;			/* a thread runs (or ran and was not joined) */
	aws_client *client;
	char	   *bucket;
	char	   *key;
	char	   *upload_id;
	int			part_number;
	const void *data;
	size_t		len;
	int			rc;				/* the thread's results, read after the join */
	aws_part	part;
	aws_error	err;
};

aws_part_sender *
aws_part_sender_new(void)
{
	return calloc(1, sizeof(aws_part_sender));
}

static void
forget_request(aws_part_sender *ps)
{
	free(ps->bucket);
	free(ps->key);
	free(ps->upload_id);
	ps->bucket = ps->key = ps->upload_id = NULL;
	ps->data = NULL;
	ps->len = 0;
}

static void *
send_one(void *arg)
{
	aws_part_sender *ps = arg;

	memset(&ps->err, 0, sizeof(ps->err));
	ps->rc = aws_multipart_upload_part(ps->client, ps->bucket, ps->key, ps->upload_id,
									   ps->part_number, ps->data, ps->len, &ps->part, &ps->err);
	return NULL;
}

int
aws_part_sender_start(aws_part_sender *ps, aws_client *c, const char *bucket, const char *key,
					  const char *upload_id, int part_number, const void *data, size_t len,
					  aws_error *err)
{
	sigset_t	all;
	sigset_t	was;
	int			rc;

	if (ps->busy)
	{
		aws_set_error(err, "UploadPart", 0, "InvalidState", false, "a part is already in flight");
		return -1;
	}
	ps->client = c;
	ps->bucket = aws_strdup(bucket);
	ps->key = aws_strdup(key);
	ps->upload_id = aws_strdup(upload_id);
	ps->part_number = part_number;
	ps->data = data;
	ps->len = len;
	memset(&ps->part, 0, sizeof(ps->part));
	if (ps->bucket == NULL || ps->key == NULL || ps->upload_id == NULL)
	{
		forget_request(ps);
		aws_set_error(err, "UploadPart", 0, "OutOfMemory", true, "out of memory");
		return -1;
	}
	/* The new thread inherits the mask: every signal blocked there, none lost here. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &was);
	rc = pthread_create(&ps->thread, NULL, send_one, ps);
	pthread_sigmask(SIG_SETMASK, &was, NULL);
	if (rc != 0)
	{
		forget_request(ps);
		aws_set_error(err, "UploadPart", 0, "ThreadError", true, "could not start the part's thread: %s", strerror(rc));
		return -1;
	}
	ps->busy = true;
	return 0;
}

bool
aws_part_sender_busy(const aws_part_sender *ps)
{
	return ps != NULL && ps->busy;
}

int
aws_part_sender_wait(aws_part_sender *ps, aws_part *out, aws_error *err)
{
	int			rc;

	if (ps == NULL || !ps->busy)
	{
		if (out)
			memset(out, 0, sizeof(*out));
		return 0;
	}
	pthread_join(ps->thread, NULL);
	ps->busy = false;
	rc = ps->rc;
	if (rc == 0 && out)
		*out = ps->part;
	if (rc != 0 && err)
		*err = ps->err;
	forget_request(ps);
	return rc;
}

void
aws_part_sender_free(aws_part_sender *ps)
{
	if (ps == NULL)
		return;
	(void) aws_part_sender_wait(ps, NULL, NULL);
	free(ps);
}
