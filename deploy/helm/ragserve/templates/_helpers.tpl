{{/* Names. */}}
{{- define "ragserve.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "ragserve.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "ragserve.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "ragserve.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Selector labels of one component: pass (dict "root" $ "component" "api"). */}}
{{- define "ragserve.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ragserve.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "ragserve.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "ragserve.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* True (non-empty) when every store is external: only then may ragserve run several replicas. */}}
{{- define "ragserve.scaleOut" -}}
{{- if and (or .Values.qdrant.enabled .Values.externalQdrant.url) .Values.externalDatabase.urlSecret.name .Values.redis.urlSecret.name -}}
true
{{- end }}
{{- end }}

{{- define "ragserve.authSecretName" -}}
{{- default (printf "%s-auth" (include "ragserve.fullname" .)) .Values.auth.existingSecret }}
{{- end }}

{{- define "ragserve.qdrantSecretName" -}}
{{- default (printf "%s-qdrant" (include "ragserve.fullname" .)) .Values.qdrant.apiKeySecret.name }}
{{- end }}

{{/* The chat base URL: the in-chart vLLM engine's Service, else llm.baseUrl. */}}
{{- define "ragserve.llmBaseUrl" -}}
{{- if .Values.vllm.chat.enabled -}}
http://{{ include "ragserve.fullname" . }}-vllm-chat:{{ .Values.vllm.chat.service.port }}/v1
{{- else -}}
{{ .Values.llm.baseUrl }}
{{- end }}
{{- end }}

{{- define "ragserve.llmModel" -}}
{{- if .Values.llm.model -}}
{{ .Values.llm.model }}
{{- else if .Values.vllm.chat.enabled -}}
{{ default .Values.vllm.chat.model .Values.vllm.chat.servedModelName }}
{{- end }}
{{- end }}

{{- define "ragserve.embedBaseUrl" -}}
{{- if .Values.vllm.embedding.enabled -}}
http://{{ include "ragserve.fullname" . }}-vllm-embedding:{{ .Values.vllm.embedding.service.port }}/v1
{{- else -}}
{{ .Values.embedding.baseUrl }}
{{- end }}
{{- end }}

{{- define "ragserve.embedModel" -}}
{{- if .Values.embedding.model -}}
{{ .Values.embedding.model }}
{{- else if .Values.vllm.embedding.enabled -}}
{{ default .Values.vllm.embedding.model .Values.vllm.embedding.servedModelName }}
{{- end }}
{{- end }}

{{/* An env var read from a Secret key: (dict "name" ENV "secret" NAME "key" KEY "optional" BOOL). */}}
{{- define "ragserve.secretEnv" -}}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ .secret }}
      key: {{ .key }}
      {{- if .optional }}
      optional: true
      {{- end }}
{{- end }}

{{/* The shared uploads volume (RWX): on when workers are, mounted at /uploads everywhere. */}}
{{- define "ragserve.uploadsClaim" -}}
{{- default (printf "%s-uploads" (include "ragserve.fullname" .)) .Values.uploads.existingClaim }}
{{- end }}

{{/* The environment the API and the workers share (backends, stores, keys, config):
     pass (dict "root" $ "omit" (list "RAGSERVE_...")) to leave `config` keys out that the
     caller sets itself. */}}
{{- define "ragserve.appEnv" -}}
{{- $root := .root }}
{{- $fullname := include "ragserve.fullname" $root }}
{{- $llmUrl := include "ragserve.llmBaseUrl" $root }}
{{- $embedUrl := include "ragserve.embedBaseUrl" $root }}
{{- with $root -}}
- name: RAGSERVE_DATA_DIR
  value: /data
# A remote embedding model's tokenizer is fetched once into the data volume.
- name: HF_HOME
  value: /data/.cache/huggingface
{{- if .Values.worker.enabled }}
# Uploads wait here for a worker: the same RWX volume at the same path in every pod.
- name: RAGSERVE_UPLOADS_DIR
  value: /uploads
{{- end }}
{{- if $llmUrl }}
- name: RAGSERVE_LLM_BASE_URL
  value: {{ $llmUrl | quote }}
{{- end }}
{{- with include "ragserve.llmModel" . }}
- name: RAGSERVE_LLM_MODEL
  value: {{ . | quote }}
{{- end }}
{{- with .Values.llm.backends }}
- name: RAGSERVE_LLM_BACKENDS
  value: {{ toJson . | quote }}
{{- end }}
{{- with .Values.llm.apiKeySecret.name }}
{{- include "ragserve.secretEnv" (dict "name" "RAGSERVE_LLM_API_KEY" "secret" . "key" $root.Values.llm.apiKeySecret.key) | nindent 0 }}
{{- end }}
{{- if $embedUrl }}
- name: RAGSERVE_EMBED_BASE_URL
  value: {{ $embedUrl | quote }}
- name: RAGSERVE_EMBED_MODEL
  value: {{ include "ragserve.embedModel" . | quote }}
{{- end }}
{{- with .Values.embedding.replicaUrls }}
- name: RAGSERVE_EMBED_REPLICA_URLS
  value: {{ toJson . | quote }}
{{- end }}
{{- with .Values.embedding.apiKeySecret.name }}
{{- include "ragserve.secretEnv" (dict "name" "RAGSERVE_EMBED_API_KEY" "secret" . "key" $root.Values.embedding.apiKeySecret.key) | nindent 0 }}
{{- end }}
{{- if .Values.qdrant.enabled }}
- name: RAGSERVE_QDRANT_URL
  value: "http://{{ $fullname }}-qdrant:6333"
{{- include "ragserve.secretEnv" (dict "name" "RAGSERVE_QDRANT_API_KEY" "secret" (include "ragserve.qdrantSecretName" .) "key" .Values.qdrant.apiKeySecret.key) | nindent 0 }}
{{- else if .Values.externalQdrant.url }}
- name: RAGSERVE_QDRANT_URL
  value: {{ .Values.externalQdrant.url | quote }}
{{- with .Values.externalQdrant.apiKeySecret.name }}
{{- include "ragserve.secretEnv" (dict "name" "RAGSERVE_QDRANT_API_KEY" "secret" . "key" $root.Values.externalQdrant.apiKeySecret.key) | nindent 0 }}
{{- end }}
{{- end }}
{{- if or .Values.auth.existingSecret .Values.auth.create }}
{{- include "ragserve.secretEnv" (dict "name" "RAGSERVE_API_KEY" "secret" (include "ragserve.authSecretName" .) "key" .Values.auth.apiKeyKey "optional" true) | nindent 0 }}
{{- include "ragserve.secretEnv" (dict "name" "RAGSERVE_ADMIN_KEY" "secret" (include "ragserve.authSecretName" .) "key" .Values.auth.adminKeyKey "optional" true) | nindent 0 }}
{{- end }}
{{- with .Values.redis.urlSecret.name }}
{{- include "ragserve.secretEnv" (dict "name" "RAGSERVE_QUEUE_URL" "secret" . "key" $root.Values.redis.urlSecret.key) | nindent 0 }}
{{- end }}
{{- with .Values.externalDatabase.urlSecret.name }}
{{- include "ragserve.secretEnv" (dict "name" "RAGSERVE_DATABASE_URL" "secret" . "key" $root.Values.externalDatabase.urlSecret.key) | nindent 0 }}
{{- end }}
{{- with .Values.huggingface.tokenSecret.name }}
{{- include "ragserve.secretEnv" (dict "name" "HF_TOKEN" "secret" . "key" $root.Values.huggingface.tokenSecret.key) | nindent 0 }}
{{- end }}
{{- range $name, $value := .Values.config }}
{{- if not (has $name $.omit) }}
- name: {{ $name }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- end }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}
{{- end }}
