/*
 * xml.c — the XML answers of S3 and STS, read with libxml2.
 */
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "aws/aws_internal.h"

static xmlDocPtr
parse(const char *xml, size_t len)
{
	if (xml == NULL || len == 0 || len > (size_t) 64 * 1024 * 1024)
		return NULL;
	/* No network, no entity expansion: answers are data, never instructions. */
	return xmlReadMemory(xml, (int) len, "aws.xml", NULL, XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
}

static xmlNodePtr
find_node(xmlNodePtr node, const char *name)
{
	for (; node; node = node->next)
	{
		xmlNodePtr	found;

		if (node->type == XML_ELEMENT_NODE && strcmp((const char *) node->name, name) == 0)
			return node;
		found = find_node(node->children, name);
		if (found)
			return found;
	}
	return NULL;
}

static char *
node_text(xmlNodePtr node)
{
	xmlChar    *content = xmlNodeGetContent(node);
	char	   *out = aws_strdup(content ? (const char *) content : "");

	if (content)
	{
		/* The content may be a secret (SecretAccessKey, SessionToken): wipe libxml's copy. */
		memset(content, 0, strlen((const char *) content));
		xmlFree(content);
	}
	return out;
}

char *
aws_xml_find(const char *xml, size_t len, const char *name)
{
	xmlDocPtr	doc = parse(xml, len);
	xmlNodePtr	node;
	char	   *out = NULL;

	if (doc == NULL)
		return NULL;
	node = find_node(xmlDocGetRootElement(doc), name);
	if (node)
		out = node_text(node);
	xmlFreeDoc(doc);
	return out;
}

char *
aws_xml_root_name(const char *xml, size_t len)
{
	xmlDocPtr	doc = parse(xml, len);
	xmlNodePtr	root;
	char	   *out = NULL;

	if (doc == NULL)
		return NULL;
	root = xmlDocGetRootElement(doc);
	if (root)
		out = aws_strdup((const char *) root->name);
	xmlFreeDoc(doc);
	return out;
}

char *
aws_xml_list_keys(const char *xml, size_t len,
				  void (*fn) (void *ctx, const char *key, int64_t size), void *ctx,
				  bool *truncated)
{
	xmlDocPtr	doc = parse(xml, len);
	xmlNodePtr	root,
				node;
	char	   *token = NULL;

	*truncated = false;
	if (doc == NULL)
		return NULL;
	root = xmlDocGetRootElement(doc);
	for (node = root ? root->children : NULL; node; node = node->next)
	{
		if (node->type != XML_ELEMENT_NODE)
			continue;
		if (strcmp((const char *) node->name, "Contents") == 0)
		{
			xmlNodePtr	k = find_node(node->children, "Key");
			xmlNodePtr	s = find_node(node->children, "Size");
			char	   *key = k ? node_text(k) : NULL;
			char	   *size = s ? node_text(s) : NULL;

			if (key)
				fn(ctx, key, size ? strtoll(size, NULL, 10) : -1);
			free(key);
			free(size);
		}
		else if (strcmp((const char *) node->name, "IsTruncated") == 0)
		{
			char	   *t = node_text(node);

			*truncated = t && strcmp(t, "true") == 0;
			free(t);
		}
		else if (strcmp((const char *) node->name, "NextContinuationToken") == 0)
			token = node_text(node);
	}
	xmlFreeDoc(doc);
	return token;
}
