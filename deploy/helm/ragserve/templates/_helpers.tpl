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
